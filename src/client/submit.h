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
  bool keep_going = false;
  int wait_daemon_s = 0;
  bool quiet = false;
};

// Exit codes: 0 every task succeeded, 1 a task failed (or the daemon was lost), 2 bad usage
// or an invalid graph (nothing was run or written).
int run_submit(const SubmitOptions& opts);

}  // namespace zbuild::client
