// Timeline of one build, collected from the daemon's final task events: where the critical
// path, the lower bound and the time spent waiting for a worker come from (metrics), and what
// `zbuild submit --trace FILE` writes as Chrome trace-event JSON (docs/observability.md).
//
// Trace format (version 1): {"traceEvents": [...], "displayTimeUnit": "ms", "zbuild": {...}}.
//  * pid 1 "workers": one row (tid) per worker slot, named "WORKER slot N". A task that ran is
//    one complete event ("ph":"X", cat "task", name = task id) with its steps nested inside it:
//    "fetch" (inputs), "run" (the command), "upload" (outputs), as the worker measured them,
//    each with args.task naming its task.
//  * pid 2 "queue": a task's wait from ready to dispatched, an async span ("ph":"b"/"e",
//    cat "queue", id = task index); viewers stack overlapping waits on their own.
//  * pid 3 "cache": an instant event ("ph":"i", cat "cached") per task answered from the cache.
//  * "ts"/"dur" are microseconds since the first task became ready; "zbuild.epoch_us" is that
//    instant on the daemon's wall clock.
//  * "zbuild" holds what `zbuild report` draws: {"version":1, "name", "epoch_us", "slots",
//    "rows":[{"row","worker","slot"}], "summary":{critical_path_ms, total_work_ms,
//    lower_bound_ms, makespan_ms, efficiency, wait_for_worker_ms}, "metrics":{...as
//    --metrics-out...}, "tasks":[{"id","state","worker","slot","row","ready_us","start_us",
//    "end_us","fetch_ms","run_ms","upload_ms","attempts","deps":[indexes],"critical"}]},
//    times relative to epoch_us; "row" is the tid of the task's slot, -1 when it did not run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/progress.h"

namespace zbuild::client {

// What the timeline says about how well the build was scheduled. Times in milliseconds.
struct ScheduleSummary {
  int64_t critical_path_ms = 0;      // longest chain of dependent tasks, by time on a worker
  int64_t total_work_ms = 0;         // sum of every executed task's time on a worker
  uint64_t slots = 0;                // worker slots the lower bound assumes
  int64_t lower_bound_ms = 0;        // max(critical path, total work / slots)
  int64_t makespan_ms = 0;           // first task ready -> last task finished
  int64_t wait_for_worker_ms = 0;    // sum over executed tasks of ready -> dispatched
  double efficiency = 0;             // lower_bound / makespan (0 when nothing ran)
  std::vector<uint32_t> critical_path;   // task indexes, first to last
};

class Timeline {
 public:
  // `deps[i]` lists the tasks task i waits for (indexes into `ids`).
  Timeline(std::vector<std::string> ids, std::vector<std::vector<uint32_t>> deps);

  // Records a final event (Done, Cached, Failed, Skipped); others are ignored.
  void on_event(const TaskReport& r);

  // Distinct (worker, slot) pairs that ran a task.
  uint64_t slots_seen() const;

  // `slots` 0 means: as many as were seen running tasks.
  ScheduleSummary summarize(uint64_t slots) const;

  // The Chrome trace-event JSON described above; `metrics_json` (an object) is embedded and
  // `name` (the graph) titles it.
  std::string trace_json(const ScheduleSummary& s, const std::string& metrics_json, const std::string& name) const;

 private:
  struct Entry {
    bool final = false;
    wire::TaskState state = wire::TaskState::Queued;
    std::string worker;
    int slot = -1;
    int attempts = 0;
    int64_t ready_us = 0, start_us = 0, end_us = 0;
    int64_t fetch_ms = 0, run_ms = 0, upload_ms = 0;
    bool ran() const;            // occupied a worker slot (has a dispatch and an end)
    int64_t work_us() const;     // time on the worker slot, 0 when it did not run
  };

  std::vector<std::string> ids_;
  std::vector<std::vector<uint32_t>> deps_;
  std::vector<Entry> tasks_;
};

}  // namespace zbuild::client
