// Outbox: what a worker's slots send to the daemon's sink (output blobs, then the task's
// result), held back while the worker has more queued work, so that a run of short tasks
// reports in groups: one wake-up of each side's ZeroMQ I/O thread and of the daemon's event
// loop per group instead of per task. A result waits at most Limits::hold_ms (a slot sends
// what is due while its next task runs: DueCall, common/subprocess.h), never while the worker
// has nothing queued (its slots would idle until the daemon hears of them), and never beyond
// a count or a size. Not thread-safe: the worker guards it with its queue's mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace zbuild::worker {

class Outbox {
 public:
  struct Limits {
    size_t results = 16;          // tasks in one group at most
    int64_t hold_ms = 10;         // how long the first held task's messages may wait
    size_t bytes = 1u << 20;      // held bytes at most
    size_t queued = 2;            // held only while at least this many tasks wait for a slot
  };

  Outbox() = default;
  explicit Outbox(Limits l) : limits_(l) {}

  // One task's messages, in the order they must arrive. `queued`: tasks waiting for a slot of
  // this worker (the one this slot takes next included). Returns what is to be sent now, every
  // held message first, in order; empty when they may wait.
  std::vector<std::string> add(std::vector<std::string> msgs, size_t queued, int64_t now_ms);
  // Everything held, in order (the slot is about to wait, or its due time came).
  std::vector<std::string> take();
  // Milliseconds from `now_ms` until what is held must go (0: now); -1 when nothing is held.
  int64_t due_in(int64_t now_ms) const;
  bool empty() const { return held_.empty(); }

 private:
  Limits limits_;
  std::vector<std::string> held_;
  size_t tasks_ = 0;
  size_t bytes_ = 0;
  int64_t since_ms_ = 0;   // when the first held task's messages came
};

}  // namespace zbuild::worker
