// Reassembles blobs that arrive in chunks (worker output uploads on the sink, client uploads
// on the client endpoint). Chunks of one blob arrive in order from one sender; the finished
// bytes are checked against their digest before anyone may store them.
//
// Bounded against hostile senders: memory is reserved for what has arrived, never for what a
// first chunk claims; each sender may hold at most `per_sender` bytes and `max_partials`
// unfinished blobs, all senders together `global` bytes; a chunk that would pass a cap is
// refused and its partial blob dropped. Partials whose sender went quiet for `idle_ms` are
// dropped by expire(); a sender that leaves is dropped by drop_sender().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/blob_writer.h"
#include "common/digest.h"
#include "common/result.h"

namespace zbuild::daemon {

struct BlobAssemblerLimits {
  uint64_t max_blob = 4ull << 30;        // largest blob accepted at all
  uint64_t per_sender = 512ull << 20;    // unfinished bytes one sender may hold
  uint64_t global = 2ull << 30;          // unfinished bytes of all senders together
  size_t max_partials = 64;              // unfinished blobs per sender
  int64_t idle_ms = 30000;               // a partial untouched this long is dropped
};

class BlobAssembler {
 public:
  explicit BlobAssembler(BlobAssemblerLimits limits = {}) : lim_(limits) {}

  // Adds a chunk at time `now_ms`. Returns the whole blob when this chunk completes it and the
  // digest matches; nullopt while incomplete; an error for an out-of-order, oversized or
  // corrupt blob, or one past a cap (the partial blob is then dropped).
  Result<std::optional<std::string>> add(const std::string& sender, const Digest& d, uint64_t offset,
                                         std::string_view data, int64_t now_ms = 0);
  void drop_sender(const std::string& sender);
  // Drops partials not extended since `now_ms - idle_ms`; returns how many.
  size_t expire(int64_t now_ms);
  uint64_t bytes_in_progress() const { return total_; }
  size_t partials() const { return partial_.size(); }
  uint64_t refused() const { return refused_; }

 private:
  struct Partial {
    std::unique_ptr<MemoryBlobWriter> writer;
    int64_t last_ms = 0;
    uint64_t counted = 0;   // bytes charged to the sender and the total
  };
  struct SenderUse {
    uint64_t bytes = 0;
    size_t count = 0;
  };
  using Key = std::pair<std::string, std::string>;   // (sender, digest)
  void erase(std::map<Key, Partial>::iterator it);
  Result<std::optional<std::string>> refuse(std::map<Key, Partial>::iterator it, std::string why);

  BlobAssemblerLimits lim_;
  uint64_t total_ = 0;
  uint64_t refused_ = 0;
  std::map<Key, Partial> partial_;
  std::map<std::string, SenderUse> use_;
};

}  // namespace zbuild::daemon
