// In-memory backend: hash maps behind one mutex, for tests and --cache=memory. With a size cap
// it evicts least-recently-used CAS and action-cache entries exactly like the RocksDB store
// (same accounting: key plus value bytes), so the shared store tests cover the policy.
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>

#include "store/recency.h"
#include "store/store.h"

namespace zbuild::store {
namespace {

enum class Kind : char { blob = 'c', action = 'a' };

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(const StoreOptions& opts) : max_bytes_(opts.max_bytes), recency_(opts.clock) {}

  Result<bool> has_blob(const Digest& d) override {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(d);
    if (it == blobs_.end()) return false;
    touch(Kind::blob, d, it->second);
    return true;
  }

  Result<std::vector<Digest>> missing_blobs(const std::vector<Digest>& digests) override {
    std::lock_guard lock(mu_);
    std::vector<Digest> missing;
    for (const Digest& d : digests) {
      auto it = blobs_.find(d);
      if (it == blobs_.end()) {
        missing.push_back(d);
      } else {
        touch(Kind::blob, d, it->second);
      }
    }
    return missing;
  }

  Status put_blob(const Digest& d, std::string_view data) override { return put(Kind::blob, d, data); }
  Result<std::optional<std::string>> get_blob(const Digest& d) override { return get(Kind::blob, d); }
  Status put_action(const Digest& key, std::string_view result) override { return put(Kind::action, key, result); }
  Result<std::optional<std::string>> get_action(const Digest& key) override { return get(Kind::action, key); }

  Status put_meta(std::string_view key, std::string_view value) override {
    std::lock_guard lock(mu_);
    meta_[std::string(key)].assign(value);
    return {};
  }

  Result<std::optional<std::string>> get_meta(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = meta_.find(std::string(key));
    if (it == meta_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  StoreStats stats() override {
    std::lock_guard lock(mu_);
    return StoreStats{.blob_count = blobs_.size(), .blob_bytes = blob_bytes_, .action_count = actions_.size(),
                      .backend = "memory", .max_bytes = max_bytes_, .stored_bytes = stored_bytes_,
                      .evictions = evictions_, .evicted_bytes = evicted_bytes_, .read_only = false, .write_error = {}};
  }

 private:
  struct Entry {
    std::string value;
    int64_t stamp = 0;
  };
  using Map = std::unordered_map<Digest, Entry, DigestHash>;
  using OrderKey = std::tuple<int64_t, Kind, Digest>;  // oldest first

  static uint64_t entry_size(const Digest& key, size_t value_size) { return key.str().size() + value_size; }

  Map& map(Kind k) { return k == Kind::blob ? blobs_ : actions_; }

  void touch(Kind k, const Digest& key, Entry& e) {
    order_.erase(OrderKey{e.stamp, k, key});
    e.stamp = recency_.next();
    order_.insert(OrderKey{e.stamp, k, key});
  }

  void remove(Kind k, Map::iterator it) {
    const uint64_t size = entry_size(it->first, it->second.value.size());
    order_.erase(OrderKey{it->second.stamp, k, it->first});
    stored_bytes_ -= size;
    if (k == Kind::blob) blob_bytes_ -= it->second.value.size();
    map(k).erase(it);
  }

  Status put(Kind k, const Digest& key, std::string_view value) {
    std::lock_guard lock(mu_);
    const uint64_t size = entry_size(key, value.size());
    if (max_bytes_ != 0 && size > max_bytes_) {
      return make_error("memory store: " + key.str() + " (" + std::to_string(size) +
                        " bytes) is larger than the store's size cap of " + std::to_string(max_bytes_) + " bytes");
    }
    Map& m = map(k);
    if (auto it = m.find(key); it != m.end()) remove(k, it);
    while (max_bytes_ != 0 && stored_bytes_ + size > max_bytes_ && !order_.empty()) {
      auto [stamp, victim_kind, victim] = *order_.begin();
      auto vit = map(victim_kind).find(victim);
      evicted_bytes_ += entry_size(victim, vit->second.value.size());
      ++evictions_;
      remove(victim_kind, vit);
    }
    Entry& e = m[key];
    e.value.assign(value);
    e.stamp = recency_.next();
    order_.insert(OrderKey{e.stamp, k, key});
    stored_bytes_ += size;
    if (k == Kind::blob) blob_bytes_ += value.size();
    return {};
  }

  Result<std::optional<std::string>> get(Kind k, const Digest& key) {
    std::lock_guard lock(mu_);
    auto it = map(k).find(key);
    if (it == map(k).end()) return std::optional<std::string>();
    touch(k, key, it->second);
    return std::optional<std::string>(it->second.value);
  }

  std::mutex mu_;
  const uint64_t max_bytes_;
  Recency recency_;
  Map blobs_;
  Map actions_;
  std::set<OrderKey> order_;
  std::unordered_map<std::string, std::string> meta_;
  uint64_t blob_bytes_ = 0;
  uint64_t stored_bytes_ = 0;
  uint64_t evictions_ = 0;
  uint64_t evicted_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Store> make_memory_store(const StoreOptions& opts) { return std::make_unique<MemoryStore>(opts); }

}  // namespace zbuild::store
