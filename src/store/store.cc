// open_store() dispatch and the default Store::missing_blobs().
#include "store/store.h"

namespace zbuild::store {

Result<std::vector<Digest>> Store::missing_blobs(const std::vector<Digest>& digests) {
  std::vector<Digest> missing;
  for (const Digest& d : digests) {
    auto has = has_blob(d);
    if (!has.ok()) return has.error();
    if (!has.value()) missing.push_back(d);
  }
  return missing;
}

Result<std::unique_ptr<Store>> open_store(const std::string& spec) {
  if (spec.empty()) return make_error("empty store spec (expected DIR, rocksdb:DIR, redis://HOST:PORT[/DB] or memory)");
  if (spec == "memory") return make_memory_store();
  if (spec.starts_with("redis://")) return open_redis_store(spec);
  if (spec.starts_with("rocksdb:")) {
    std::string dir = spec.substr(std::string_view("rocksdb:").size());
    if (dir.empty()) return make_error("store spec '" + spec + "' names no directory");
    return open_rocksdb_store(dir);
  }
  return open_rocksdb_store(spec);
}

}  // namespace zbuild::store
