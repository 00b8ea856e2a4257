// Scheduler: all scheduling state of the daemon, driven by one thread (no locks around the
// DAG). It owns builds and tasks, the ready queue (longest remaining path first), in-flight
// deduplication by action key, retries of infrastructure failures on a different worker, and
// it decides which worker gets which task. It talks to the world only through the interfaces
// below, so tests drive it with fakes and a FakeClock.
//
// Priorities: a task's priority is its estimated duration plus the longest chain of estimates
// after it. The estimate is the task's own remembered duration when it has one (the store,
// keyed by duration_key), otherwise the Estimator's (estimator.h): by kind and input size,
// with per-kind rates learned as tasks finish. When a kind's rate or mean moves by more than
// kRerankFactor since tasks were ranked, every task not yet started is estimated and ranked
// again (the ready queue is rebuilt), so a first build corrects its order as it learns.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "daemon/estimator.h"
#include "daemon/registry.h"
#include "proto/action.h"

namespace zbuild::daemon {

enum class TaskState { Waiting, Ready, Running, Done, Cached, Failed, Skipped };

struct Outcome {
  int exit_code = 0;
  std::string out;
  std::string err;
  std::vector<OutputSpec> outputs;
  int64_t duration_ms = 0;
  std::string worker;
  std::string infra_error;    // non-empty: infrastructure failure (retry elsewhere)
  // Worker-side split of the attempt (for timelines).
  int64_t fetch_ms = 0;
  int64_t upload_ms = 0;
  int slot = -1;
};

struct TaskRec {
  uint64_t gid = 0;           // global id, unique in this daemon
  uint64_t build_id = 0;
  uint32_t index = 0;
  std::string id;
  ActionSpec action;
  std::vector<uint32_t> deps;
  std::vector<uint32_t> dependents;
  uint32_t waiting_on = 0;
  TaskState state = TaskState::Waiting;
  int attempts = 0;           // dispatches so far
  int infra_failures = 0;     // failures a worker reported (bounded by max_attempts)
  int lost_count = 0;         // attempts lost with their worker (bounded by kMaxLostRetries)
  std::set<std::string> failed_on;   // worker ids where an attempt hit an infra failure
  std::string running_on;     // worker route while Running
  int64_t estimate_ms = 0;
  int64_t priority_ms = 0;    // longest remaining path from this task, inclusive
  bool remembered = false;    // estimate_ms is the task's own remembered duration
  TaskKind kind = TaskKind::Other;
  uint64_t input_bytes = 0;   // source_bytes() of the action as submitted
  Digest key;
  Outcome outcome;
  int64_t ready_us = 0;       // wall clock (trace timestamps)
  int64_t start_us = 0;
  int64_t end_us = 0;
  std::string message;        // skip/failure reason
  // --verify-rate: this action runs on two different workers before it counts.
  bool verify = false;
  std::optional<Outcome> first_run;   // the first worker's successful outcome, awaiting the second
  std::string first_worker_route;
};

struct Build {
  uint64_t id = 0;
  std::string client_route;
  uint64_t request_id = 0;
  std::string name;
  bool keep_going = false;
  bool require_sandbox = false;   // dispatch only to workers that announced a sandbox
  std::string private_for;        // the client's local slot (a worker's private_for), if any
  bool stopped = false;       // a failure without --keep-going: start nothing new
  std::vector<TaskRec> tasks;
  std::vector<uint32_t> order;   // a topological order of tasks (dependencies first)
  uint32_t finished = 0;
  uint32_t running = 0;
  bool failed = false;
  int64_t started_ms = 0;
};

// What the scheduler asks of the world.
class SchedulerHost {
 public:
  virtual ~SchedulerHost() = default;
  // Send the task to the worker. False when the worker cannot be reached.
  virtual bool send_task(const WorkerRec& w, const TaskRec& t) = 0;
  virtual void task_event(const Build& b, const TaskRec& t) = 0;
  virtual void build_done(const Build& b) = 0;
  // Action cache, consulted before dispatch; a hit costs no worker time. A hit names exactly
  // the task's declared `outputs`.
  virtual std::optional<Outcome> cache_lookup(const Digest& key, const std::vector<std::string>& outputs) = 0;
  // Remembered duration of a task, by a key stable across builds.
  virtual std::optional<int64_t> duration_lookup(const std::string& key) = 0;
  virtual void duration_record(const std::string& key, int64_t ms) = 0;
  // The estimator's learned sums (Estimator::store_key / serialize), kept across restarts.
  virtual std::optional<std::string> estimator_lookup(const std::string& /*key*/) { return std::nullopt; }
  virtual void estimator_record(const std::string& /*key*/, const std::string& /*value*/) {}
  // A worker's result is accepted as the task's success (after verification, if any), just
  // before anyone hears of it: the place to write the action cache.
  virtual void accepted(const TaskRec& /*t*/, const Outcome& /*o*/) {}
};

struct SchedulerCounters {
  uint64_t builds = 0, tasks_received = 0;
  // How tasks ended: dispatched, answered from the cache, run, failed; retried attempts, tasks
  // joined to an identical one in flight, results that came after their task moved on.
  uint64_t dispatched = 0, cache_hits = 0, executed = 0, failed = 0;
  uint64_t retries = 0, deduplicated = 0, late_results = 0;
  uint64_t verified = 0;           // actions whose two runs agreed
  uint64_t verify_mismatches = 0;  // actions whose two runs disagreed (nothing cached)
  uint64_t verify_skipped = 0;     // chosen for verification with no second worker connected
  uint64_t reranks = 0;            // times waiting tasks were estimated and ranked again
};

struct NewTask {
  std::string id;
  ActionSpec action;
  std::vector<uint32_t> deps;
};

class Scheduler {
 public:
  // An infrastructure failure is retried after retry_backoff_ms, doubling per attempt (capped
  // at 2 s), so a task does not bounce between failing workers in a tight loop.
  Scheduler(const Clock& clock, Registry& registry, SchedulerHost& host, int max_attempts = 3,
            int64_t retry_backoff_ms = 0);

  // Adds a build. Tasks must be acyclic with deps indexing earlier or later tasks of the same
  // build (validated by the client; checked again here). Returns the build id or an error.
  // Two running builds may not declare the same output under the same root: the second is
  // refused, naming the output and the build that holds it.
  Result<uint64_t> add_build(std::string client_route, uint64_t request_id, std::string name,
                             std::vector<NewTask> tasks, bool keep_going, bool require_sandbox = false,
                             std::string private_for = {});
  // The client of a build is gone: nothing new starts, running tasks finish, the build ends.
  void cancel_build(uint64_t build_id, const std::string& why);

  // Makes the build's root tasks ready (cache hits resolve here). Separate from add_build so
  // the caller can acknowledge the build before its first events.
  void start_build(uint64_t build_id);

  // Dispatches ready tasks to workers with credit. Call after anything that may free work.
  void dispatch();
  // A result from a worker for (gid, attempt). Late or unknown results are ignored. True when
  // the result was accepted as the task's final success (the only case the caller may cache).
  bool on_result(const std::string& worker_route, uint64_t gid, int attempt, Outcome outcome);

  // Runs fraction `rate` (0..1) of cache-miss actions, chosen by action key, on two different
  // workers and compares their outputs before the result counts; a mismatch fails the task,
  // naming both workers, and a worker with `set_aside_after` mismatches gets no more work.
  void set_verify_rate(double rate, int set_aside_after = 3) {
    verify_rate_ = rate;
    set_aside_after_ = set_aside_after;
  }
  // A worker is gone (heartbeat lost, reconnect): its running tasks are retried elsewhere.
  void on_worker_lost(const WorkerRec& w, const std::string& why);
  void requeue_tasks(const std::set<uint64_t>& gids, const std::string& why);

  const SchedulerCounters& counters() const { return counters_; }
  size_t ready_count() const { return ready_.size() + delayed_.size(); }
  size_t running_count() const;
  const std::map<uint64_t, std::unique_ptr<Build>>& builds() const { return builds_; }
  TaskRec* find_task(uint64_t gid);
  // The prior of the action's kind (Estimator::prior_ms): a task nothing is known of.
  static int64_t default_estimate_ms(const ActionSpec& a);
  static std::string duration_key(const ActionSpec& a);
  const Estimator& estimator() const { return estimator_; }
  // A kind's model moved by more than this factor since the last ranking: rank again.
  static constexpr double kRerankFactor = 1.25;

 private:
  struct ReadyItem {
    int64_t priority;
    uint64_t gid;
    bool operator<(const ReadyItem& o) const {
      return priority != o.priority ? priority < o.priority : gid > o.gid;  // max-heap, FIFO ties
    }
  };

  void make_ready(Build& b, TaskRec& t);
  // Estimates of every task not started and not remembered, then priorities, from scratch.
  void rank(Build& b);
  void learn(const TaskRec& t, int64_t ms);
  void load_estimator();
  // Makes ready what pending_ holds (at most `limit` of it), the last first.
  void drain(size_t limit = SIZE_MAX);
  static constexpr size_t kFirstWave = 64;   // start_build()
  void finish(Build& b, TaskRec& t, TaskState state, Outcome outcome);
  void fail_infra(Build& b, TaskRec& t, const std::string& why, bool worker_lost = false);
  static constexpr int kMaxLostRetries = 10;
  void skip_dependents(Build& b, TaskRec& failed);
  void stop_build(Build& b, const std::string& why);
  void maybe_done(Build& b);
  void emit(Build& b, TaskRec& t);
  WorkerRec* pick_worker(const TaskRec& t);
  bool unplaceable(const TaskRec& t) const;
  static bool terminal(TaskState s) {
    return s == TaskState::Done || s == TaskState::Cached || s == TaskState::Failed || s == TaskState::Skipped;
  }

  const Clock& clock_;
  Registry& registry_;
  SchedulerHost& host_;
  int max_attempts_;
  int64_t retry_backoff_ms_;
  double verify_rate_ = 0;
  int set_aside_after_ = 3;
  std::vector<std::pair<int64_t, uint64_t>> delayed_;    // (not before, gid) retries in backoff
  uint64_t next_build_ = 1;
  uint64_t next_gid_ = 1;
  std::map<uint64_t, std::unique_ptr<Build>> builds_;
  std::unordered_map<uint64_t, std::pair<Build*, uint32_t>> by_gid_;
  std::priority_queue<ReadyItem> ready_;
  // In-flight dedup: action key -> the running primary, and the tasks waiting on it.
  std::unordered_map<Digest, uint64_t, DigestHash> inflight_;
  std::unordered_map<uint64_t, std::vector<uint64_t>> followers_;
  SchedulerCounters counters_;
  Estimator estimator_;
  bool estimator_loaded_ = false;
  std::array<Estimator::Model, kTaskKinds> ranked_with_{};   // models at the last ranking
  std::array<bool, kTaskKinds> learned_since_save_{};
  std::vector<std::pair<uint64_t, uint32_t>> pending_;   // (build, index) whose deps just finished
  static Digest submitted_digest(const ActionSpec& a);
  // Why two successful runs of one action disagree, or empty when they agree.
  static std::string compare_runs(const Outcome& a, const Outcome& b);
  // "<root>/<output>" -> (running build, digest of the submitted action writing it)
  std::map<std::string, std::pair<uint64_t, Digest>> output_claims_;
};

const char* state_name(TaskState s);

}  // namespace zbuild::daemon
