// zbuild-worker: joins a daemon at any time, announces its slots, grants credit, heartbeats,
// fetches the inputs it lacks into its blob cache, runs each task in a fresh sandbox on a slot
// thread, and pushes outputs and the result to the daemon's sink. Reconnects with backoff when
// the daemon goes quiet, and announces itself again.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace zmq {
class context_t;
}

namespace zbuild::worker {

// Tasks a worker may queue beyond its slots at most (Hello.prefetch; the daemon clamps to it too).
constexpr int kMaxPrefetch = 16;

struct WorkerOptions {
  std::string daemon = "127.0.0.1:7600";
  int slots = 0;               // 0: number of cores
  int prefetch = 16;           // tasks queued beyond the slots at most: one, all while tasks are short
  std::string work_dir;        // default: $TMPDIR/zbuild-worker-<pid>
  std::string task_dir;        // task folders; empty: /dev/shm when a tmpfs, else work_dir ("disk": always)
  int64_t heartbeat_ms = 1000;
  int64_t liveness_ms = 3000;  // daemon silent this long: reconnect
  std::string id;              // default: host-pid-random
  std::string curve_key;       // this worker's secret key file (CurveZMQ); or $ZBUILD_CURVE_KEY
  std::string daemon_key;      // the daemon's public key file; or $ZBUILD_DAEMON_KEY
  // auto or bwrap: bubblewrap, and refuse to start when it cannot run here; none: no sandbox
  // (the operator's explicit choice; the daemon shows the worker as unsandboxed).
  std::string sandbox = "auto";
  std::vector<std::string> allow_programs;
  bool allow_any_program = false;
  std::vector<std::string> allow_options;    // compiler options allowed despite the refusal list
  std::vector<std::string> toolchain_dirs;   // extra folders whose files tasks may name as host files
  std::string private_for;   // $ZBUILD_PRIVATE_FOR: a client's local slot, serving only its builds
  int64_t memory_limit_mb = 8192;
  // A daemon's local slots (zbuild daemon --local-slots, start_local_worker): the worker lives in
  // the daemon's process and joins it through the daemon's ZeroMQ context at the in-process
  // endpoints named `inproc` (no I/O thread, no socket between them); `daemon` is then unused.
  zmq::context_t* context = nullptr;
  std::string inproc;
};

// A worker process: runs until `stop` is set.
Status run_worker(const WorkerOptions& opts, const std::atomic<bool>& stop);

// The daemon's own slots, driven by the daemon's event loop rather than a thread of their own:
// step() takes what the daemon sent them (it never blocks) and heartbeats when due; the loop
// calls it after each pass, so a task assigned costs no thread wake-up before a slot takes it.
// The slots run on their own threads and send results to the daemon's sink as any worker's do.
// Destroying it stops them (running tasks are killed).
class LocalWorker {
 public:
  virtual ~LocalWorker() = default;
  virtual void step() = 0;
};

// Starts the slots (`opts.context` and `opts.inproc` set), joined to the daemon when this
// returns; an error when they cannot start (no sandbox, and --sandbox none not given).
Result<std::unique_ptr<LocalWorker>> start_local_worker(const WorkerOptions& opts);

}  // namespace zbuild::worker
