// Content digests: XXH3-128 of the bytes plus their size. The text form is
// "<32 hex digits>-<size>", used as the store key and on the wire.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace zbuild {

struct Digest {
  uint64_t hi = 0;
  uint64_t lo = 0;
  uint64_t size = 0;

  std::string hex() const;   // 32 lowercase hex digits
  std::string str() const;   // hex() + "-" + size
  bool empty() const { return hi == 0 && lo == 0 && size == 0; }
  auto operator<=>(const Digest&) const = default;

  static Result<Digest> parse(std::string_view text);
};

Digest digest_bytes(std::string_view data);
Result<Digest> digest_file(const std::filesystem::path& path);

// Incremental hashing for canonical serialisations (action keys, manifests).
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void update(std::string_view data);
  // Length-prefixed field, so ("ab","c") and ("a","bc") hash differently.
  void field(std::string_view data);
  void field(uint64_t v);
  Digest finish();

 private:
  void* state_;
  uint64_t size_ = 0;
};

struct DigestHash {
  size_t operator()(const Digest& d) const { return static_cast<size_t>(d.lo ^ (d.hi * 31) ^ d.size); }
};

}  // namespace zbuild
