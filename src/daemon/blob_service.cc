#include "daemon/blob_service.h"

#include "proto/wire.h"

namespace zbuild::daemon {

namespace fb = flatbuffers;

std::string BlobService::receive(const std::string& sender, const wire::BlobChunk* c) {
  Digest d = proto::from_wire(c->digest());
  auto r = assembler_.add(sender, d, c->offset(), proto::bytes(c->data()), clock_.now_ms());
  if (!r.ok()) return r.error().message;
  if (!r.value()) return {};
  auto p = store_.put_blob(d, *r.value());
  if (!p.ok()) return "store error: " + p.error().message;
  bytes_received_ += d.size;
  return {};
}

// Chunked reads of one large blob and the same header sent to several workers cost one store
// read, not one each.
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
  while (served_.size() > 1 && (served_bytes_ > (64u << 20) || served_.size() > 256)) {
    served_bytes_ -= served_.front().second.size();
    served_.pop_front();
  }
  return &served_.back().second;
}

void BlobService::serve(const wire::BlobRequest* req, uint64_t request_id, const Send& send,
                        const std::function<void(const std::string&)>& store_error) {
  if (!req->items()) return;
  for (auto* item : *req->items()) {
    Digest d = proto::from_wire(&item->digest());
    const std::string* blob = cached_blob(d, store_error);
    fb::FlatBufferBuilder fbb(blob ? std::min<size_t>(blob->size(), proto::kChunkSize) + 256 : 256);
    auto wd = proto::to_wire(d);
    if (!blob || item->offset() > blob->size()) {
      send(proto::finish(fbb, wire::CreateBlobChunk(fbb, &wd, item->offset(), 0, true), request_id));
      continue;
    }
    size_t len = std::min<size_t>({static_cast<size_t>(item->length() ? item->length() : proto::kChunkSize),
                                   proto::kChunkSize, blob->size() - item->offset()});
    auto data = fbb.CreateVector(reinterpret_cast<const uint8_t*>(blob->data() + item->offset()), len);
    send(proto::finish(fbb, wire::CreateBlobChunk(fbb, &wd, item->offset(), data, false), request_id));
  }
}

}  // namespace zbuild::daemon
