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

#include "common/clock.h"
#include "common/digest.h"
#include "common/result.h"

namespace zbuild::store {

struct StoreStats {
  uint64_t blob_count = 0;
  uint64_t blob_bytes = 0;
  uint64_t action_count = 0;
  std::string backend;   // "rocksdb:/path", "redis://h:p/db", "memory"
  // Size cap (docs/store-format.md, "Size cap and eviction"). stored_bytes is what counts
  // against max_bytes: keys plus values of the CAS and the action cache.
  uint64_t max_bytes = 0;        // 0: no cap
  uint64_t stored_bytes = 0;
  uint64_t evictions = 0;        // entries evicted since the store was opened
  uint64_t evicted_bytes = 0;
  // Writes that fail (full disk, I/O errors): the store still reads. write_error is the last
  // write failure while writes are failing, empty once a write succeeds again.
  bool read_only = false;        // opened read-only because a read-write open failed
  std::string write_error;
};

struct StoreOptions {
  // Least-recently-used eviction across the CAS and the action cache keeps stored_bytes at
  // or under this. 0: no cap. RocksDB and memory only; Redis evicts by its own maxmemory.
  uint64_t max_bytes = 0;
  // Recency stamps and retry timing. Null: a steady clock.
  const Clock* clock = nullptr;
  // RocksDB without a size cap (nothing is evicted while it is open; the order matters for a
  // later open with a cap): a hit refreshes an entry's recency only when its stamp is at least
  // this old, so a build that finds the same headers present for every compile writes no
  // recency records for them after the first. With a cap every hit refreshes (a present blob is
  // one the caller is about to rely on: it must not be the next to go). 0: every hit refreshes.
  int64_t refresh_ms = 60000;
  // A store whose writes fail tries again (RocksDB: DB::Resume(), or reopening read-write
  // after a read-only open) at most this often.
  int64_t retry_ms = 30000;
};

// "500M", "2G", "64K", "1T" (binary units, an optional trailing "B" or "iB") or plain bytes.
Result<uint64_t> parse_byte_size(std::string_view text);

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

  // Everything put so far is written when this returns (a store that queues writes: its queue;
  // the others write as they are called). The first write error, if any.
  virtual Status flush() { return {}; }

  // Several writes at once (a backend may make them one atomic write). The default makes them
  // one by one, all of them, and returns the first error.
  struct Put {
    enum Kind { kBlob, kAction, kMeta } kind;
    Digest digest;          // kBlob, kAction
    std::string_view key;   // kMeta
    std::string_view value;
  };
  virtual Status put_many(const std::vector<Put>& puts);

 protected:
  // has_blob for stores whose batched missing_blobs is the primitive.
  Result<bool> has_through_missing(const Digest& d) {
    auto missing = missing_blobs({d});
    if (!missing.ok()) return missing.error();
    return missing.value().empty();
  }
};

// "DIR" (RocksDB), "rocksdb:DIR", "redis://HOST:PORT[/DB]", "redis+unix://PATH[?db=DB]" (Redis
// on a Unix socket) or "memory".
Result<std::unique_ptr<Store>> open_store(const std::string& spec, const StoreOptions& opts = {});
// A spec naming a Redis server (either form).
bool is_redis_spec(std::string_view spec);

std::unique_ptr<Store> make_memory_store(const StoreOptions& opts = {});
// On a disk where a read-write open fails (full, read-only), opens read-only: reads work,
// writes return errors until a reopen succeeds (tried at most every opts.retry_ms).
Result<std::unique_ptr<Store>> open_rocksdb_store(const std::string& dir, const StoreOptions& opts = {});
Result<std::unique_ptr<Store>> open_redis_store(const std::string& url);  // error when built without hiredis

// Wraps a shared backend that may fail (Redis) so that it never fails a build: recent blobs
// stay in a bounded memory LRU, and on errors the store warns once and degrades to a local
// in-memory cache, retrying the backend at most every `retry_ms` (30 s) on `clock` (null: a
// steady clock). `primary` may be null (unreachable at start).
using Warn = std::function<void(const std::string&)>;
std::unique_ptr<Store> make_resilient_store(const std::string& spec, std::unique_ptr<Store> primary,
                                            uint64_t memory_cap, Warn warn, const Clock* clock = nullptr,
                                            int64_t retry_ms = 30000);

// Wraps a local backend (RocksDB) whose writes may fail (full disk, I/O errors) so that a
// failed write never fails a build: reads go to the backend while they work; what it refuses
// to store is kept in memory instead (blobs in a bounded LRU of `memory_cap` bytes), so the
// builds in flight go on without caching. Warns when writes start failing and when they work
// again; the backend itself decides when to retry (StoreOptions::retry_ms).
std::unique_ptr<Store> make_write_tolerant_store(const std::string& spec, std::unique_ptr<Store> primary,
                                                 uint64_t memory_cap, Warn warn);

// Takes writes off the caller's thread: puts are queued (at most `max_pending_bytes` of values;
// a put beyond that waits) and written by one background thread in batches, blobs before
// action results. Reads see what is queued; flush() writes the queue on the caller's thread.
// Destruction writes everything queued. `warn` hears of writes the backend refused.
// `results`: kWait, put_action returns once the result is written with everything queued
// before it (what a client was told is done survives a killed daemon); kQueue, it is queued like
// the rest, and the caller holds back whatever reports the result done until a flush().
enum class ResultWrites { kWait, kQueue };
std::unique_ptr<Store> make_write_behind_store(std::unique_ptr<Store> back, uint64_t max_pending_bytes, Warn warn,
                                               ResultWrites results = ResultWrites::kWait);

}  // namespace zbuild::store
