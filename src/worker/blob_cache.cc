#include "worker/blob_cache.h"

#include <sys/stat.h>
#include <unistd.h>

namespace zbuild::worker {

BlobCache::BlobCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

Status BlobCache::init() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return make_error(dir_.string() + ": " + ec.message());
  return {};
}

std::filesystem::path BlobCache::path(const Digest& d) const {
  auto s = d.str();
  return dir_ / s.substr(0, 2) / s;
}

bool BlobCache::has(const Digest& d) const {
  struct stat st {};
  return ::stat(path(d).c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == d.size;
}

Result<bool> BlobCache::add_chunk(const Digest& d, uint64_t offset, std::string_view data) {
  auto key = d.str();
  auto it = partial_.find(key);
  if (it == partial_.end()) {
    if (offset != 0) return make_error("blob " + key + ": chunk at offset " + std::to_string(offset) + " before offset 0");
    auto w = std::make_unique<FileBlobWriter>(d, path(d));
    ZB_TRY(w->open());
    it = partial_.emplace(key, std::move(w)).first;
  }
  auto done = it->second->append(offset, data);
  if (!done.ok()) {
    partial_.erase(it);
    return done.error();
  }
  bytes_fetched_ += data.size();
  if (!done.value()) return false;
  auto st = it->second->commit();
  partial_.erase(it);
  if (!st.ok()) return st.error();
  return true;
}

void BlobCache::abandon(const Digest& d) { partial_.erase(d.str()); }

}  // namespace zbuild::worker
