#include "daemon/blob_assembler.h"

namespace zbuild::daemon {

void BlobAssembler::erase(std::map<Key, Partial>::iterator it) {
  auto u = use_.find(it->first.first);
  if (u != use_.end()) {
    u->second.bytes -= it->second.data.size();
    if (--u->second.count == 0) use_.erase(u);
  }
  total_ -= it->second.data.size();
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
  uint64_t have = it == partial_.end() ? 0 : it->second.data.size();
  if (offset != have || data.size() > d.size - offset) {
    return refuse(it, "blob " + d.str() + ": chunk at offset " + std::to_string(offset) + " out of order");
  }
  if (offset + data.size() == d.size) {   // the last chunk: never held as a partial
    std::string whole;
    if (it != partial_.end()) {
      whole.swap(it->second.data);   // the partial is now empty: erase() releases its count only
      total_ -= have;
      use_[sender].bytes -= have;
      erase(it);
    }
    whole.append(data);
    if (digest_bytes(whole) != d) return refuse(partial_.end(), "blob " + d.str() + ": content does not match its digest");
    return std::optional<std::string>(std::move(whole));
  }
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
  if (it == partial_.end()) {
    it = partial_.emplace(Key(sender, d.str()), Partial{}).first;
    u.count++;
  }
  it->second.data.append(data);   // grows with what arrived, not with what was claimed
  it->second.last_ms = now_ms;
  u.bytes += data.size();
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
