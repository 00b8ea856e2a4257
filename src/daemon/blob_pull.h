// Blobs pulled from a client on demand (docs/toolchains.md): a build's toolchain files and
// system headers stay on the client until a worker whose own files differ asks for them. The
// daemon then asks that build's client (BlobWanted), holds the worker's request, and answers it
// when the upload completes, or with `missing` when the client cannot send it or its build ends.
// A hold whose client has sent nothing for a while (an ask or an upload lost on the way) is
// asked again once, then answered `missing`: a worker is never held for ever.
// Bookkeeping only, no sockets and no clock: the daemon sends what this class returns, at the
// times it passes.
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
  // A worker asks for `d`, which the store lacks, at `now_ms`. False: nobody offers it (answer
  // `missing`). True: held; `ask` is set when the client must be asked now (the first waiter).
  bool hold(const Digest& d, Waiter w, std::optional<Provider>* ask, int64_t now_ms = 0);
  // The client at `route` sent a chunk (of any blob) at `now_ms`: its holds are not stalled.
  void heard_from(const std::string& route, int64_t now_ms);
  // Holds on which neither the worker's ask nor the client's last chunk is younger than
  // `stall_ms`: the first time, to ask again (`again`: the blob and whom to ask; the hold then
  // counts from now); the second, to give up (`give_up`: answer the waiters `missing`).
  struct Stalled {
    std::vector<std::pair<Digest, Provider>> again;
    std::vector<Digest> give_up;
  };
  Stalled stalled(int64_t now_ms, int64_t stall_ms);
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
  struct Hold {
    std::vector<Waiter> waiters;
    int64_t since_ms = 0;   // the first waiter came, or the client was asked again
    bool asked_again = false;
  };
  std::optional<Provider> provider(const Digest& d) const;   // the newest build's client that offers d
  std::map<Digest, std::vector<Provider>> offers_;
  std::map<Digest, Hold> waiting_;
  std::set<Digest> asked_;
  std::map<std::string, int64_t> heard_;   // client route -> when it last sent a chunk
};

}  // namespace zbuild::daemon
