// Worker registry: who is connected, how many slots each granted (credit), what each runs,
// and when each was last heard from. Liveness is decided against the Clock seam.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"

namespace zbuild::daemon {

struct WorkerRec {
  std::string route;          // ZeroMQ routing id on the ventilator
  std::string id;             // the worker's own id (Hello.worker_id)
  std::string host;
  std::string platform;
  int slots = 0;
  bool sandboxed = false;     // announced in Hello: tasks run in a sandbox
  std::vector<std::string> programs;   // announced in Hello: programs allowed besides the toolchain
  bool any_program = false;
  std::string private_for;    // a client's local slot: serves only builds naming this secret
  uint64_t mismatches = 0;    // --verify-rate comparisons this worker took part in that disagreed
  bool set_aside = false;     // too many mismatches: no more work
  int prefetch = 0;           // tasks it may queue beyond its slots (announced in Hello, 0..16)
  int credit = 0;             // free slots the worker has granted (at most slots + prefetch)
  // Short tasks: the mean of the run times its results report (-1: none yet), and the credit
  // the daemon has added beyond the worker's own one task ahead while that mean was short
  // (daemon.cc, return_credit).
  int64_t run_ms_mean = -1;
  int short_extra = 0;
  int64_t last_seen_ms = 0;   // set by the daemon on every message from the worker; expire(read_up_to) reads it
  int64_t joined_ms = 0;
  uint64_t tasks_done = 0;
  std::set<uint64_t> running; // global task ids
  std::set<Digest> toolchains;   // toolchain trees it has run a task with (its own files or fetched)
};

// A worker's own credit takes one task beyond its slots; while its tasks run shorter than
// kShortTaskMs (a mean over its results' run_ms) the daemon fills the rest of the prefetch it
// announced, so that its slots never wait a round trip for their next task and its results
// come in groups (worker/outbox.h); once they run longer it takes that back, one returning
// result at a time (a long task queued behind another waits while other slots may idle).
// Called for each result the worker returns; gives the change to its credit beyond the
// result's own one.
constexpr int64_t kShortTaskMs = 25;
int short_task_credit(WorkerRec& w, int64_t run_ms);

class Registry {
 public:
  explicit Registry(const Clock& clock, int64_t liveness_ms) : clock_(clock), liveness_ms_(liveness_ms) {}

  // A Hello: (re)registers the worker under its routing id. Returns the running tasks of a
  // previous registration of the same worker id (a reconnect), which the caller requeues.
  std::set<uint64_t> hello(const std::string& route, const std::string& id, const std::string& host,
                           const std::string& platform, int slots);
  WorkerRec* find(const std::string& route);
  // Removes and returns every worker not heard from within the liveness window before
  // `read_up_to`: a time by which everything the workers sent has been read (the daemon passes
  // the last moment it found its worker socket empty). So a long pass of the event loop, with
  // heartbeats waiting unread, expires no one. No overload measures against now: a caller
  // must say how far it has read.
  std::vector<WorkerRec> expire(int64_t read_up_to);
  std::optional<WorkerRec> remove(const std::string& route);

  const std::map<std::string, WorkerRec>& workers() const { return workers_; }
  std::map<std::string, WorkerRec>& workers() { return workers_; }
  int total_credit() const;

 private:
  const Clock& clock_;
  int64_t liveness_ms_;
  std::map<std::string, WorkerRec> workers_;   // by route
};

}  // namespace zbuild::daemon
