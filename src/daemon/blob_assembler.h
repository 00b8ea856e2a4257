// Reassembles blobs that arrive in chunks (worker output uploads on the sink, client uploads
// on the client endpoint). Chunks of one blob arrive in order from one sender; the finished
// bytes are checked against their digest before anyone may store them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/digest.h"
#include "common/result.h"

namespace zbuild::daemon {

class BlobAssembler {
 public:
  explicit BlobAssembler(uint64_t max_blob = 4ull << 30) : max_blob_(max_blob) {}

  // Adds a chunk. Returns the whole blob when this chunk completes it and the digest matches;
  // nullopt while incomplete; an error for an out-of-order, oversized or corrupt blob (the
  // partial blob is then dropped).
  Result<std::optional<std::string>> add(const std::string& sender, const Digest& d, uint64_t offset,
                                         std::string_view data);
  void drop_sender(const std::string& sender);
  uint64_t bytes_in_progress() const { return in_progress_bytes_; }

 private:
  uint64_t max_blob_;
  uint64_t in_progress_bytes_ = 0;
  std::map<std::pair<std::string, std::string>, std::string> partial_;
};

}  // namespace zbuild::daemon
