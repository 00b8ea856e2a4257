#include "daemon/blob_assembler.h"

namespace zbuild::daemon {

Result<std::optional<std::string>> BlobAssembler::add(const std::string& sender, const Digest& d, uint64_t offset,
                                                      std::string_view data) {
  if (d.size > max_blob_) return make_error("blob " + d.str() + " exceeds the size cap");
  auto key = std::make_pair(sender, d.str());
  auto it = partial_.find(key);
  uint64_t have = it == partial_.end() ? 0 : it->second.size();
  if (offset != have || offset + data.size() > d.size) {
    if (it != partial_.end()) {
      in_progress_bytes_ -= it->second.size();
      partial_.erase(it);
    }
    return make_error("blob " + d.str() + ": chunk at offset " + std::to_string(offset) + " out of order");
  }
  if (offset + data.size() == d.size) {
    std::string whole;
    if (it != partial_.end()) {
      in_progress_bytes_ -= it->second.size();
      whole = std::move(it->second);
      partial_.erase(it);
    }
    whole.append(data);
    if (digest_bytes(whole) != d) return make_error("blob " + d.str() + ": content does not match its digest");
    return std::optional<std::string>(std::move(whole));
  }
  if (it == partial_.end()) {
    it = partial_.emplace(key, std::string()).first;
    it->second.reserve(d.size);
  }
  it->second.append(data);
  in_progress_bytes_ += data.size();
  return std::optional<std::string>();
}

void BlobAssembler::drop_sender(const std::string& sender) {
  for (auto it = partial_.begin(); it != partial_.end();) {
    if (it->first.first == sender) {
      in_progress_bytes_ -= it->second.size();
      it = partial_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace zbuild::daemon
