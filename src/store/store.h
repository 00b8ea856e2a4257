// Store: the content-addressed cache behind the daemon. Two keyspaces — CAS (digest -> bytes)
// and action cache (action key -> serialised ActionResult, opaque here) — plus small metadata
// (header manifests, task durations). One interface, two backends: RocksDB (embedded default)
// and Redis (shared by several daemons). Implementations are thread-compatible: callers
// serialise access or use one store per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/result.h"

namespace zbuild::store {

struct StoreStats {
  uint64_t blob_count = 0;
  uint64_t blob_bytes = 0;
  uint64_t action_count = 0;
  std::string backend;   // "rocksdb:/path", "redis://h:p/db", "memory"
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<bool> has_blob(const Digest& d) = 0;
  // The subset of `digests` the store lacks, in input order.
  virtual Result<std::vector<Digest>> missing_blobs(const std::vector<Digest>& digests);
  // Stores `data` under `d`. The caller has checked that digest_bytes(data) == d.
  virtual Status put_blob(const Digest& d, std::string_view data) = 0;
  virtual Result<std::optional<std::string>> get_blob(const Digest& d) = 0;

  virtual Status put_action(const Digest& key, std::string_view result) = 0;
  virtual Result<std::optional<std::string>> get_action(const Digest& key) = 0;

  virtual Status put_meta(std::string_view key, std::string_view value) = 0;
  virtual Result<std::optional<std::string>> get_meta(std::string_view key) = 0;

  virtual StoreStats stats() = 0;
};

// "DIR" (RocksDB), "rocksdb:DIR", "redis://HOST:PORT[/DB]" or "memory".
Result<std::unique_ptr<Store>> open_store(const std::string& spec);

std::unique_ptr<Store> make_memory_store();
Result<std::unique_ptr<Store>> open_rocksdb_store(const std::string& dir);
Result<std::unique_ptr<Store>> open_redis_store(const std::string& url);  // error when built without hiredis

// Wraps a shared backend that may fail (Redis) so that it never fails a build: recent blobs
// stay in a bounded memory LRU, and on errors the store warns once and degrades to a local
// in-memory cache, retrying the backend every 30 s. `primary` may be null (unreachable at start).
using Warn = std::function<void(const std::string&)>;
std::unique_ptr<Store> make_resilient_store(const std::string& spec, std::unique_ptr<Store> primary,
                                            uint64_t memory_cap, Warn warn);

}  // namespace zbuild::store
