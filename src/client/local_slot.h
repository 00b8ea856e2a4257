// The submitting machine as a slot of its own build: when a task's program is allowed by no
// connected worker (the example's test task runs `sh`; default workers run the C/C++ toolchain
// only), `zbuild submit` starts a private `zbuild-worker` beside it, in the same bubblewrap
// sandbox as any worker, that serves only builds naming its secret (passed in the environment,
// never on a command line) and gets only the tasks no public worker may run. It is stopped
// with the client. Local mode and --insecure daemons only: on a keyed daemon a client key is
// not a worker key.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/address.h"

namespace zbuild::client {

class DaemonConnection;

// Programs of `argvs` that no worker in the status JSON may run (empty: no local slot needed).
std::vector<std::string> programs_no_worker_runs(const std::string& status_json,
                                                 const std::vector<std::vector<std::string>>& argvs);

class LocalSlot {
 public:
  // Starts the worker and waits (up to 20 s) until the daemon lists it. Null, with the reason
  // in `why`, when it cannot start or join.
  static std::unique_ptr<LocalSlot> start(const Address& daemon, int slots, DaemonConnection& conn, std::string* why);
  ~LocalSlot();   // SIGTERM, then waits for it
  LocalSlot(const LocalSlot&) = delete;
  LocalSlot& operator=(const LocalSlot&) = delete;
  const std::string& secret() const { return secret_; }

 private:
  LocalSlot() = default;
  pid_t pid_ = -1;
  std::string secret_;
};

}  // namespace zbuild::client
