#include "daemon/blob_service.h"

#include "proto/wire.h"

namespace zbuild::daemon {

namespace fb = flatbuffers;

std::string BlobService::receive(const std::string& sender, const wire::BlobChunk* c, bool* stored) {
  Digest d = proto::from_wire(c->digest());
  auto r = assembler_.add(sender, d, c->offset(), proto::bytes(c->data()), clock_.now_ms());
  if (!r.ok()) return r.error().message;
  if (!r.value()) return {};
  auto p = store_.put_blob(d, *r.value());
  if (!p.ok()) return "store error: " + p.error().message;
  bytes_received_ += d.size;
  if (stored) *stored = true;
  return {};
}

// Chunked reads of one large blob and the same header sent to several workers cost one store
// read, not one each. Up to 256 MB: several workers fetching a shipped toolchain at once each
// hold a different large program (cc1plus, cc1, lto1: ~35 MB each) in flight, and a smaller
// cache would read each of them again for every chunk.
const std::string* BlobService::cached_blob(const Digest& d, const std::function<void(const std::string&)>& store_error) {
  for (auto& [k, v] : served_) {
    if (k == d) return &v;
  }
  auto r = store_.get_blob(d);
  if (!r.ok()) {
    store_error(r.error().message);
    return nullptr;
  }
  if (!r.value()) return nullptr;
  served_bytes_ += r.value()->size();
  served_.emplace_back(d, std::move(*r.value()));
  while (served_.size() > 1 && (served_bytes_ > (256u << 20) || served_.size() > 256)) {
    served_bytes_ -= served_.front().second.size();
    served_.pop_front();
  }
  return &served_.back().second;
}

void BlobService::serve(const wire::BlobRequest* req, uint64_t request_id, const Send& send,
                        const std::function<void(const std::string&)>& store_error, const Defer& defer) {
  if (!req->items()) return;
  for (auto* item : *req->items()) {
    Digest d = proto::from_wire(&item->digest());
    if (defer && !cached_blob(d, store_error) && defer(d, item->offset(), item->length())) continue;
    serve_item(d, item->offset(), item->length(), request_id, send, store_error);
  }
}

void BlobService::serve_item(const Digest& d, uint64_t offset, uint32_t length, uint64_t request_id, const Send& send,
                             const std::function<void(const std::string&)>& store_error) {
  const std::string* blob = cached_blob(d, store_error);
  fb::FlatBufferBuilder fbb(blob ? std::min<size_t>(blob->size(), proto::kChunkSize) + 256 : 256);
  auto wd = proto::to_wire(d);
  if (!blob || offset > blob->size()) {
    send(proto::finish(fbb, wire::CreateBlobChunk(fbb, &wd, offset, 0, true), request_id));
    return;
  }
  size_t len = std::min<size_t>({static_cast<size_t>(length ? length : proto::kChunkSize), proto::kChunkSize,
                                 blob->size() - offset});
  auto data = fbb.CreateVector(reinterpret_cast<const uint8_t*>(blob->data() + offset), len);
  send(proto::finish(fbb, wire::CreateBlobChunk(fbb, &wd, offset, data, false), request_id));
}

}  // namespace zbuild::daemon
