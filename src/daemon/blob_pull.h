// Blobs pulled from a client on demand (docs/toolchains.md): a build's toolchain files and
// system headers stay on the client until a worker whose own files differ asks for them. The
// daemon then asks that build's client (BlobWanted), holds the worker's request, and answers it
// when the upload completes, or with `missing` when the client cannot send it or its build ends.
// Bookkeeping only, no sockets: the daemon sends what this class returns.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/digest.h"

namespace zbuild::daemon {

class BlobPull {
 public:
  struct Provider {
    std::string route;   // the client's routing id on the client socket
    uint64_t rid = 0;    // its build's request id
    uint64_t build = 0;
  };
  struct Waiter {
    std::string route;   // the worker's routing id on the ventilator
    uint64_t offset = 0;
    uint32_t length = 0;
  };

  // Build `build`'s client can send `digests` when asked.
  void offer(uint64_t build, const std::string& route, uint64_t rid, const std::vector<Digest>& digests);
  // A worker asks for `d`, which the store lacks. False: nobody offers it (answer `missing`).
  // True: held; `ask` is set when the client must be asked now (the first waiter).
  bool hold(const Digest& d, Waiter w, std::optional<Provider>* ask);
  // `d` was asked of a client ahead of any waiter (the rest of a toolchain whose first file a
  // worker wanted): a later hold does not ask again.
  void asked(const Digest& d) { asked_.insert(d); }
  // True when the client at `route` offers `d`: only it may say it cannot send it (another
  // client's `missing` would fail a build that is not its own).
  bool offered_by(const Digest& d, const std::string& route) const;
  // `d` is in the store now, or its client cannot send it: the waiters to answer.
  std::vector<Waiter> release(const Digest& d);
  // Build `build` ended: its offers go, and the waiters on blobs nobody else offers are returned.
  std::vector<std::pair<Digest, Waiter>> build_ended(uint64_t build);

  size_t offered() const { return offers_.size(); }
  size_t held() const { return waiting_.size(); }

 private:
  std::map<Digest, std::vector<Provider>> offers_;
  std::map<Digest, std::vector<Waiter>> waiting_;
  std::set<Digest> asked_;
};

}  // namespace zbuild::daemon
