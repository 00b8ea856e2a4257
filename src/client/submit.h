// `zbuild submit GRAPH`: reads and validates the graph, hashes inputs, discovers headers,
// uploads only the blobs the store lacks, submits the build, shows progress, writes outputs
// back atomically as tasks finish, and prints a summary (and --metrics-out JSON).
#pragma once

#include <string>

namespace zbuild::client {

struct SubmitOptions {
  std::string daemon;            // HOST:PORT (already resolved from --daemon / ZBUILD_DAEMON)
  std::string graph;
  std::string metrics_out;
  std::string csv_out;           // metrics appended as one CSV row (header when the file is new)
  std::string trace_out;         // Chrome trace-event JSON of the build's timeline
  bool keep_going = false;
  bool require_sandbox = false;   // only workers that announced a sandbox
  bool keep_root_paths = false;   // no -ffile-prefix-map=ROOT=.: keys name the root (proto/root_free.h)
  int wait_daemon_s = 0;
  int local_slots = 1;           // tasks no connected worker may run run here (0: never)
  bool quiet = false;
  std::string curve_key;         // CurveZMQ: this client's secret key file (or $ZBUILD_CURVE_KEY)
  std::string daemon_key;        // and the daemon's public key file (or $ZBUILD_DAEMON_KEY)
};

// Exit codes: 0 every task succeeded, 1 a task failed (or the daemon was lost), 2 bad usage
// or an invalid graph (nothing was run or written).
int run_submit(const SubmitOptions& opts);

}  // namespace zbuild::client
