// A shared store that may go away (Redis) must never fail a build: ResilientStore keeps recent
// blobs in a bounded in-memory LRU (so the blobs of builds in flight stay available) and, when
// the shared backend fails, warns once and carries on as a local, non-persistent cache. It
// tries the backend again every 30 seconds (retry_ms, on the Clock seam) and says so when it is back.
#include <mutex>
#include <unordered_map>

#include "common/clock.h"
#include "store/blob_lru.h"
#include "store/store.h"

namespace zbuild::store {

namespace {

class ResilientStore final : public Store {
 public:
  ResilientStore(std::string spec, std::unique_ptr<Store> primary, uint64_t cap, Warn warn, const Clock& clock,
                 int64_t retry_ms)
      : spec_(std::move(spec)),
        primary_(std::move(primary)),
        lru_(cap),
        warn_(std::move(warn)),
        clock_(clock),
        retry_ms_(retry_ms) {
    if (!primary_) degrade("cannot reach it at start");
  }

  Result<bool> has_blob(const Digest& d) override {
    if (lru_has(d)) return true;
    if (auto* p = healthy()) {
      auto r = p->has_blob(d);
      if (r.ok()) return r;
      degrade(r.error().message);
    }
    return false;
  }

  Result<std::vector<Digest>> missing_blobs(const std::vector<Digest>& ds) override {
    std::vector<Digest> rest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      rest = lru_.absent(ds);
    }
    if (auto* p = healthy()) {
      auto r = p->missing_blobs(rest);
      if (r.ok()) return r;
      degrade(r.error().message);
    }
    return rest;
  }

  Status put_blob(const Digest& d, std::string_view data) override {
    lru_put(d, data);
    if (auto* p = healthy()) {
      auto r = p->put_blob(d, data);
      if (!r.ok()) degrade(r.error().message);
    }
    return {};
  }

  Result<std::optional<std::string>> get_blob(const Digest& d) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto hit = lru_.get(d)) return hit;
    }
    if (auto* p = healthy()) {
      auto r = p->get_blob(d);
      if (r.ok()) return r;
      degrade(r.error().message);
    }
    return std::optional<std::string>();
  }

  Status put_action(const Digest& key, std::string_view v) override { return put_kv(key.str(), v, local_ac_, true); }
  Result<std::optional<std::string>> get_action(const Digest& key) override { return get_kv(key.str(), local_ac_, true); }
  Status put_meta(std::string_view k, std::string_view v) override { return put_kv(std::string(k), v, local_meta_, false); }
  Result<std::optional<std::string>> get_meta(std::string_view k) override {
    return get_kv(std::string(k), local_meta_, false);
  }

  StoreStats stats() override {
    StoreStats s;
    if (auto* p = healthy()) s = p->stats();
    std::lock_guard<std::mutex> lock(mu_);
    if (degraded_) {
      s.backend = spec_ + " (unreachable: local in-memory cache)";
      s.blob_count = lru_.count();
      s.blob_bytes = lru_.bytes();
      s.action_count = local_ac_.size();
    }
    return s;
  }

 private:
  Store* healthy() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!degraded_) return primary_.get();
    int64_t now = clock_.now_ms();
    if (now - degraded_at_ < retry_ms_) return nullptr;
    degraded_at_ = now;
    if (!primary_) {
      auto r = open_store(spec_);
      if (!r.ok()) return nullptr;
      primary_ = std::move(r.value());
    }
    auto probe = primary_->get_meta("format");
    if (!probe.ok()) return nullptr;
    degraded_ = false;
    warn_("store " + spec_ + " is reachable again; using it as the shared cache");
    return primary_.get();
  }

  void degrade(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (degraded_) return;
    degraded_ = true;
    degraded_at_ = clock_.now_ms();
    warn_("store " + spec_ + " failed (" + why + "): continuing with a local in-memory cache; builds go on, "
          "results are not shared until it is back");
  }

  bool lru_has(const Digest& d) {
    std::lock_guard<std::mutex> lock(mu_);
    return lru_.has(d);
  }

  void lru_put(const Digest& d, std::string_view data) {
    std::lock_guard<std::mutex> lock(mu_);
    lru_.put(d, data);
  }

  Status put_kv(const std::string& k, std::string_view v, std::unordered_map<std::string, std::string>& local,
                bool action) {
    if (auto* p = healthy()) {
      auto r = action ? p->put_action(Digest::parse(k).value(), v) : p->put_meta(k, v);
      if (r.ok()) return r;
      degrade(r.error().message);
    }
    std::lock_guard<std::mutex> lock(mu_);
    local[k] = std::string(v);
    return {};
  }

  Result<std::optional<std::string>> get_kv(const std::string& k, std::unordered_map<std::string, std::string>& local,
                                            bool action) {
    if (auto* p = healthy()) {
      auto r = action ? p->get_action(Digest::parse(k).value()) : p->get_meta(k);
      if (r.ok()) return r;
      degrade(r.error().message);
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = local.find(k);
    if (it == local.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  std::string spec_;
  std::unique_ptr<Store> primary_;
  BlobLru lru_;
  Warn warn_;
  const Clock& clock_;
  const int64_t retry_ms_;
  std::mutex mu_;
  bool degraded_ = false;
  int64_t degraded_at_ = 0;
  std::unordered_map<std::string, std::string> local_ac_, local_meta_;
};

}  // namespace

std::unique_ptr<Store> make_resilient_store(const std::string& spec, std::unique_ptr<Store> primary,
                                            uint64_t memory_cap, Warn warn, const Clock* clock, int64_t retry_ms) {
  return std::make_unique<ResilientStore>(spec, std::move(primary), memory_cap, std::move(warn),
                                          clock ? *clock : steady_clock(), retry_ms);
}

}  // namespace zbuild::store
