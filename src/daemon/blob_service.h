// The daemon's blob service: uploads in (worker outputs on the sink, client sources on the
// client endpoint) through the capped BlobAssembler into the store, and blobs out (workers'
// input fetches, clients' output downloads) in bounded chunks from a small cache of recently
// served blobs. No sockets here: answers go through a callback, so it is tested on the
// memory store alone.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <utility>

#include "common/clock.h"
#include "daemon/blob_assembler.h"
#include "store/store.h"
#include "zbuild_generated.h"

namespace zbuild::daemon {

class BlobService {
 public:
  using Send = std::function<void(const std::string& payload)>;

  BlobService(store::Store& store, const Clock& clock, BlobAssemblerLimits limits = {})
      : store_(store), clock_(clock), assembler_(limits) {}

  // One chunk of an upload from `sender`. Stores the blob when this chunk completes it.
  // Returns an error message (a refused chunk, a store error) or empty.
  // `stored`, when given, is set when this chunk completed a blob that is now in the store.
  std::string receive(const std::string& sender, const wire::BlobChunk* c, bool* stored = nullptr);
  // Answers every item of a BlobRequest with one BlobChunk (or `missing`), echoing `request_id`.
  // `store_error` receives read errors of the store.
  // `defer`, when given, is asked first about an item whose blob the store lacks: true means
  // the caller answers it later (serve_item), once the blob arrives.
  using Defer = std::function<bool(const Digest& d, uint64_t offset, uint32_t length)>;
  void serve(const wire::BlobRequest* req, uint64_t request_id, const Send& send,
             const std::function<void(const std::string&)>& store_error, const Defer& defer = {});
  // One item: a BlobChunk of `d` from `offset` (or `missing`).
  void serve_item(const Digest& d, uint64_t offset, uint32_t length, uint64_t request_id, const Send& send,
                  const std::function<void(const std::string&)>& store_error);

  void drop_sender(const std::string& sender) { assembler_.drop_sender(sender); }
  void expire() { assembler_.expire(clock_.now_ms()); }

  uint64_t bytes_received() const { return bytes_received_; }
  uint64_t refused() const { return assembler_.refused(); }
  uint64_t bytes_in_progress() const { return assembler_.bytes_in_progress(); }

 private:
  const std::string* cached_blob(const Digest& d, const std::function<void(const std::string&)>& store_error);

  store::Store& store_;
  const Clock& clock_;
  BlobAssembler assembler_;
  std::deque<std::pair<Digest, std::string>> served_;   // recently served blobs
  uint64_t served_bytes_ = 0;
  uint64_t bytes_received_ = 0;
};

}  // namespace zbuild::daemon
