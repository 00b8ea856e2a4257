// The daemon process: binds the ventilator (ROUTER, workers), the sink (PULL, results) and the
// client endpoint (ROUTER), and runs the single-threaded event loop that feeds the Scheduler.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace zbuild::daemon {

struct DaemonOptions {
  std::string listen = "127.0.0.1:7600";
  std::string store;                 // spec for open_store; empty: default per-user location
  int64_t heartbeat_ms = 1000;
  int64_t liveness_ms = 3000;        // a worker silent this long is dropped
  int max_attempts = 3;
  int64_t retry_backoff_ms = 50;     // first retry delay; doubles per attempt
  bool insecure = false;             // allow binding a non-loopback address without keys
  std::string ready_file;            // written (atomically) once every socket is bound
};

// Runs until `stop` becomes true (SIGINT/SIGTERM set it). Returns an error for startup
// failures (address in use, store locked) naming the address or the store.
Status run_daemon(const DaemonOptions& opts, const std::atomic<bool>& stop);

std::string default_store_dir();

}  // namespace zbuild::daemon
