#include "daemon/blob_assembler.h"

namespace zbuild::daemon {

void BlobAssembler::erase(std::map<Key, Partial>::iterator it) {
  uint64_t held = it->second.counted;
  auto u = use_.find(it->first.first);
  if (u != use_.end()) {
    u->second.bytes -= held;
    if (--u->second.count == 0) use_.erase(u);
  }
  total_ -= held;
  partial_.erase(it);
}

Result<std::optional<std::string>> BlobAssembler::refuse(std::map<Key, Partial>::iterator it, std::string why) {
  if (it != partial_.end()) erase(it);
  refused_++;
  return make_error(std::move(why));
}

Result<std::optional<std::string>> BlobAssembler::add(const std::string& sender, const Digest& d, uint64_t offset,
                                                      std::string_view data, int64_t now_ms) {
  auto it = partial_.find(Key(sender, d.str()));
  if (d.size > lim_.max_blob) return refuse(it, "blob " + d.str() + " exceeds the size cap");
  bool last = it == partial_.end() ? offset + data.size() == d.size
                                   : offset == it->second.writer->have() && data.size() == d.size - offset;
  if (!last) {   // it will be held: check the caps before taking the bytes
    SenderUse& u = use_[sender];
    if (it == partial_.end() && u.count >= lim_.max_partials) {
      if (u.count == 0) use_.erase(sender);
      return refuse(it, "too many unfinished uploads from this sender (cap " + std::to_string(lim_.max_partials) + ")");
    }
    if (u.bytes + data.size() > lim_.per_sender || total_ + data.size() > lim_.global) {
      if (u.count == 0) use_.erase(sender);
      return refuse(it, "blob " + d.str() + ": unfinished uploads past the memory cap (" +
                            std::to_string(lim_.per_sender >> 20) + " MiB per sender, " +
                            std::to_string(lim_.global >> 20) + " MiB in all)");
    }
  }
  std::unique_ptr<MemoryBlobWriter> single;
  MemoryBlobWriter* w;
  if (it != partial_.end()) {
    w = it->second.writer.get();
  } else if (last) {
    single = std::make_unique<MemoryBlobWriter>(d);   // one chunk: never held as a partial
    w = single.get();
  } else {
    it = partial_.emplace(Key(sender, d.str()), Partial{std::make_unique<MemoryBlobWriter>(d), now_ms}).first;
    use_[sender].count++;
    w = it->second.writer.get();
  }
  auto done = w->append(offset, data);
  if (!done.ok()) return refuse(it, done.error().message);
  if (done.value()) {
    std::string whole = w->take();
    if (it != partial_.end()) erase(it);
    return std::optional<std::string>(std::move(whole));
  }
  it->second.last_ms = now_ms;
  it->second.counted += data.size();
  use_[sender].bytes += data.size();
  total_ += data.size();
  return std::optional<std::string>();
}

void BlobAssembler::drop_sender(const std::string& sender) {
  for (auto it = partial_.lower_bound(Key(sender, std::string())); it != partial_.end() && it->first.first == sender;) {
    auto next = std::next(it);
    erase(it);
    it = next;
  }
}

size_t BlobAssembler::expire(int64_t now_ms) {
  size_t n = 0;
  for (auto it = partial_.begin(); it != partial_.end();) {
    auto next = std::next(it);
    if (now_ms - it->second.last_ms >= lim_.idle_ms) {
      erase(it);
      ++n;
    }
    it = next;
  }
  return n;
}

}  // namespace zbuild::daemon
