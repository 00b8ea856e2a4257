// The daemon process: binds the ventilator (ROUTER, workers), the sink (PULL, results) and the
// client endpoint (ROUTER), and runs the single-threaded event loop that feeds the Scheduler.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "daemon/launcher.h"

namespace zmq {
class context_t;
}

namespace zbuild::daemon {

// The daemon's own slots as its event loop sees them: step() hands them what the loop sent
// (it never blocks); destroying them stops them.
class OwnSlots {
 public:
  virtual ~OwnSlots() = default;
  virtual void step() = 0;
};

struct DaemonOptions {
  std::string listen = "127.0.0.1:7600";
  std::string store;                 // spec for open_store; empty: default per-user location
  uint64_t store_max_bytes = 0;      // --store-max-size: LRU eviction above this; 0: no cap
  int64_t heartbeat_ms = 1000;
  int64_t liveness_ms = 3000;        // a worker silent this long is dropped
  int max_attempts = 3;
  int64_t retry_backoff_ms = 50;     // first retry delay; doubles per attempt
  double verify_rate = 0;            // fraction of cache misses run on two workers and compared
  bool insecure = false;             // allow binding a non-loopback address without keys
  std::string ready_file;            // written (atomically) once every socket is bound
  // CurveZMQ: the daemon's secret key file and the allow-lists of worker and client public
  // keys (re-read on SIGHUP). With a key every socket is encrypted and authenticated.
  std::string curve_secret;
  std::string allow_workers;
  std::string allow_clients;
  std::atomic<bool>* reload = nullptr;   // set by SIGHUP: re-read the allow-lists
  // Runner mode (docs/runner.md): a workspace directory gets a `.zbuild-daemon` file naming
  // this daemon while it runs (zbuild-cc finds it walking up from its working directory).
  std::string workspace;
  int64_t idle_exit_ms = 0;          // exit after this long with no client, build or busy worker; 0: never
  LaunchPolicy launch;               // workers started by the daemon (--launch, --local-workers)
  // Local slots (--local-slots): a worker in this process, started with the daemon's ZeroMQ
  // context and the name of its in-process endpoints (Address::inproc) before the event loop
  // runs, and driven by it (OwnSlots::step after each pass); an error when it cannot start (no
  // sandbox): the daemon then does not start.
  using LocalSlots = std::function<Result<std::unique_ptr<OwnSlots>>(zmq::context_t& ctx, const std::string& inproc)>;
  LocalSlots local_slots;
};

// Runs until `stop` becomes true (SIGINT/SIGTERM set it). Returns an error for startup
// failures (address in use, store locked) naming the address or the store.
Status run_daemon(const DaemonOptions& opts, const std::atomic<bool>& stop);

std::string default_store_dir();

}  // namespace zbuild::daemon
