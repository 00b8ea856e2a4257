// A bounded in-memory LRU of blobs, internal to src/store: the memory that keeps builds going
// when a backend cannot take their blobs (ResilientStore, WriteTolerantStore). Not
// thread-safe: its owner locks.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/digest.h"

namespace zbuild::store {

class BlobLru {
 public:
  explicit BlobLru(uint64_t cap) : cap_(cap) {}

  bool has(const Digest& d) const { return idx_.count(d) > 0; }
  // Those of `ds` not held here (what a backend must still be asked about).
  std::vector<Digest> absent(const std::vector<Digest>& ds) const {
    std::vector<Digest> rest;
    for (const Digest& d : ds) {
      if (!has(d)) rest.push_back(d);
    }
    return rest;
  }

  // Keeps `data` unless it is already held or larger than the whole cap; drops the least
  // recently used blobs to make room.
  void put(const Digest& d, std::string_view data) {
    if (idx_.count(d) || data.size() > cap_) return;
    lru_.emplace_back(d, std::string(data));
    idx_[d] = std::prev(lru_.end());
    bytes_ += data.size();
    while (bytes_ > cap_ && !lru_.empty()) {
      bytes_ -= lru_.front().second.size();
      idx_.erase(lru_.front().first);
      lru_.pop_front();
    }
  }

  std::optional<std::string> get(const Digest& d) {
    auto it = idx_.find(d);
    if (it == idx_.end()) return std::nullopt;
    lru_.splice(lru_.end(), lru_, it->second);
    return it->second->second;
  }

  uint64_t count() const { return idx_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  using List = std::list<std::pair<Digest, std::string>>;
  uint64_t cap_;
  List lru_;
  std::unordered_map<Digest, List::iterator, DigestHash> idx_;
  uint64_t bytes_ = 0;
};

}  // namespace zbuild::store
