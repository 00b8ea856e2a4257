// A local store whose disk fills up must not fail builds. WriteTolerantStore passes every call
// to its backend; what the backend refuses to store (a full disk, an I/O error, a blob larger
// than the size cap) is kept in memory instead — blobs in a bounded LRU, action results and
// metadata in small maps — so the build that wrote it can still read it back, and a read the
// backend fails counts as a miss. Caching stops; building goes on. The backend decides when
// to try writing again (StoreOptions::retry_ms); the first write that works ends the episode.
#include <mutex>
#include <unordered_map>

#include "store/blob_lru.h"
#include "store/store.h"

namespace zbuild::store {
namespace {

class WriteTolerantStore final : public Store {
 public:
  WriteTolerantStore(std::string spec, std::unique_ptr<Store> primary, uint64_t memory_cap, Warn warn)
      : spec_(std::move(spec)), primary_(std::move(primary)), lru_(memory_cap), warn_(std::move(warn)) {}

  Result<bool> has_blob(const Digest& d) override {
    {
      std::lock_guard lock(mu_);
      if (lru_.has(d)) return true;
    }
    return read_or(primary_->has_blob(d), false);
  }

  Result<std::vector<Digest>> missing_blobs(const std::vector<Digest>& ds) override {
    std::vector<Digest> rest;
    {
      std::lock_guard lock(mu_);
      rest = lru_.absent(ds);
    }
    return read_or(primary_->missing_blobs(rest), rest);
  }

  Status put_blob(const Digest& d, std::string_view data) override {
    auto r = primary_->put_blob(d, data);
    if (r.ok()) {
      writes_work();
      return r;
    }
    write_failed(r.error().message);
    std::lock_guard lock(mu_);
    lru_.put(d, data);
    return {};
  }

  Result<std::optional<std::string>> get_blob(const Digest& d) override {
    {
      std::lock_guard lock(mu_);
      if (auto hit = lru_.get(d)) return hit;
    }
    return read_or(primary_->get_blob(d), std::optional<std::string>());
  }

  Status put_action(const Digest& key, std::string_view v) override {
    return put_kv(key.str(), v, local_ac_, [&] { return primary_->put_action(key, v); });
  }
  Result<std::optional<std::string>> get_action(const Digest& key) override {
    return get_kv(key.str(), local_ac_, [&] { return primary_->get_action(key); });
  }
  Status put_meta(std::string_view k, std::string_view v) override {
    return put_kv(std::string(k), v, local_meta_, [&] { return primary_->put_meta(k, v); });
  }
  Result<std::optional<std::string>> get_meta(std::string_view k) override {
    return get_kv(std::string(k), local_meta_, [&] { return primary_->get_meta(k); });
  }

  // All at once while the backend takes them; one by one (each kept here if refused) when not.
  Status put_many(const std::vector<Put>& puts) override {
    if (primary_->put_many(puts).ok()) {
      writes_work();
      std::lock_guard lock(mu_);
      for (auto& p : puts) {
        if (p.kind == Put::kAction) local_ac_.erase(p.digest.str());
        if (p.kind == Put::kMeta) local_meta_.erase(std::string(p.key));
      }
      return {};
    }
    return Store::put_many(puts);
  }

  StoreStats stats() override {
    StoreStats s = primary_->stats();
    std::lock_guard lock(mu_);
    if (failing_ && s.write_error.empty()) s.write_error = last_error_;
    return s;
  }

 private:
  using Map = std::unordered_map<std::string, std::string>;
  static constexpr size_t kMaxLocalEntries = 1 << 16;

  void write_failed(const std::string& why) {
    std::lock_guard lock(mu_);
    last_error_ = why;
    if (failing_) return;
    failing_ = true;
    warn_("store " + spec_ + ": a write failed (" + why + "): caching stopped, builds go on; what the store "
          "cannot take is kept in memory until writes work again");
  }

  void writes_work() {
    std::lock_guard lock(mu_);
    if (!failing_) return;
    failing_ = false;
    last_error_.clear();
    warn_("store " + spec_ + " accepts writes again; caching resumed");
  }

  // A read the store could not answer counts as a miss (`miss`), warned about once.
  template <class T>
  T read_or(Result<T> r, T miss) {
    if (r.ok()) return std::move(r.value());
    std::lock_guard lock(mu_);
    if (!read_warned_) {
      read_warned_ = true;
      warn_("store " + spec_ + ": a read failed (" + r.error().message + "): treated as a cache miss");
    }
    return miss;
  }

  template <class Put>
  Status put_kv(const std::string& k, std::string_view v, Map& local, Put put) {
    auto r = put();
    if (r.ok()) {
      writes_work();
      std::lock_guard lock(mu_);
      local.erase(k);  // the store has the newer value now
      return r;
    }
    write_failed(r.error().message);
    std::lock_guard lock(mu_);
    if (local.size() >= kMaxLocalEntries) local.clear();  // a long outage must not grow without bound
    local[k] = std::string(v);
    return {};
  }

  template <class Get>
  Result<std::optional<std::string>> get_kv(const std::string& k, Map& local, Get get) {
    {
      std::lock_guard lock(mu_);
      auto it = local.find(k);
      if (it != local.end()) return std::optional<std::string>(it->second);
    }
    return read_or(get(), std::optional<std::string>());
  }

  const std::string spec_;
  const std::unique_ptr<Store> primary_;
  std::mutex mu_;
  BlobLru lru_;
  Map local_ac_, local_meta_;
  Warn warn_;
  bool failing_ = false;
  bool read_warned_ = false;
  std::string last_error_;
};

}  // namespace

std::unique_ptr<Store> make_write_tolerant_store(const std::string& spec, std::unique_ptr<Store> primary,
                                                 uint64_t memory_cap, Warn warn) {
  return std::make_unique<WriteTolerantStore>(spec, std::move(primary), memory_cap, std::move(warn));
}

}  // namespace zbuild::store
