// In-memory backend: three hash maps behind one mutex. For tests and --cache=memory.
#include <mutex>
#include <unordered_map>

#include "store/store.h"

namespace zbuild::store {
namespace {

class MemoryStore final : public Store {
 public:
  Result<bool> has_blob(const Digest& d) override {
    std::lock_guard lock(mu_);
    return blobs_.contains(d);
  }

  Result<std::vector<Digest>> missing_blobs(const std::vector<Digest>& digests) override {
    std::lock_guard lock(mu_);
    std::vector<Digest> missing;
    for (const Digest& d : digests) {
      if (!blobs_.contains(d)) missing.push_back(d);
    }
    return missing;
  }

  Status put_blob(const Digest& d, std::string_view data) override {
    std::lock_guard lock(mu_);
    auto [it, inserted] = blobs_.try_emplace(d);
    if (!inserted) blob_bytes_ -= it->second.size();
    it->second.assign(data);
    blob_bytes_ += data.size();
    return {};
  }

  Result<std::optional<std::string>> get_blob(const Digest& d) override {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(d);
    if (it == blobs_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  Status put_action(const Digest& key, std::string_view result) override {
    std::lock_guard lock(mu_);
    actions_[key].assign(result);
    return {};
  }

  Result<std::optional<std::string>> get_action(const Digest& key) override {
    std::lock_guard lock(mu_);
    auto it = actions_.find(key);
    if (it == actions_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

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
    StoreStats s;
    s.blob_count = blobs_.size();
    s.blob_bytes = blob_bytes_;
    s.action_count = actions_.size();
    s.backend = "memory";
    return s;
  }

 private:
  std::mutex mu_;
  std::unordered_map<Digest, std::string, DigestHash> blobs_;
  std::unordered_map<Digest, std::string, DigestHash> actions_;
  std::unordered_map<std::string, std::string> meta_;
  uint64_t blob_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Store> make_memory_store() { return std::make_unique<MemoryStore>(); }

}  // namespace zbuild::store
