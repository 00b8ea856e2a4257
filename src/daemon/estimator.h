// Estimator: how long a task nobody has timed yet will take, from what the graph says of it.
//
// The scheduler orders ready tasks by the longest remaining path (scheduler.h). A task whose
// duration was remembered from an earlier build uses that; every other task is estimated here
// from what a real graph gives — never from what the command does when it runs:
//
//  * its kind (TaskKind), from argv and the declared outputs: a compile (`-c`, or an object
//    output), an archive (`ar`/`ranlib`, or a `.a`), a link (a compiler driver or `ld` without
//    `-c`, a shared library, an output without extension) or anything else;
//  * its size: the bytes of the inputs it names that exist before the build (sources and the
//    project headers the client found; sizes from their digests). Inputs other tasks produce
//    have no size yet; system headers are host files, not inputs.
//
// Per kind the estimator keeps two running sums over finished tasks: all (ms, count) and
// sized (ms, bytes). A task with a size is estimated as  bytes × (sized ms / sized bytes)  — a
// per-kind rate in ms per byte; one without, as the kind's mean. Sums are capped at kMaxWeight
// tasks (older ones fade, so a drifting machine is followed). Before a kind has seen any task,
// the sums are seeded with kPriorWeight pseudo-tasks of the kind's prior duration (prior_ms)
// at the mean size of the kind's tasks in the build being added: the first build orders each
// kind by size, and the prior is outweighed after a few real tasks. Learned sums are kept in
// the store across daemon restarts (kStoreVersion, below); a remembered duration of the task
// itself always wins over the estimate.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "proto/action.h"

namespace zbuild::daemon {

enum class TaskKind : uint8_t { Compile = 0, Archive = 1, Link = 2, Other = 3 };
constexpr size_t kTaskKinds = 4;
const char* kind_name(TaskKind k);

// The kind of an action, from argv and declared outputs only.
TaskKind task_kind(const ActionSpec& a);
// Bytes of the inputs that exist before the build (producer == 0), from their digests.
uint64_t source_bytes(const ActionSpec& a);

class Estimator {
 public:
  // Stored per kind under "sched-est:v1:<kind>" as "<count> <all ms> <sized ms> <sized bytes>"
  // (decimal numbers, space-separated). A new version ignores older keys.
  static constexpr int kStoreVersion = 1;
  static constexpr double kMaxWeight = 200;    // tasks a kind's sums stand for, at most
  static constexpr double kPriorWeight = 2;    // pseudo-tasks of the prior

  // Duration assumed for a task of a kind nothing is known of (ms).
  static int64_t prior_ms(TaskKind k);

  // Seeds a kind with the prior when it has nothing yet; `mean_bytes` is the mean size of the
  // kind's sized tasks in the build (0: none sized).
  void seed(TaskKind k, double mean_bytes);
  // A task of kind `k` and `bytes` source bytes finished in `ms`.
  void observe(TaskKind k, uint64_t bytes, int64_t ms);
  int64_t estimate(TaskKind k, uint64_t bytes) const;
  // True once `k` has seen a task (real or remembered), not only the prior.
  bool learned(TaskKind k) const { return kinds_[static_cast<size_t>(k)].real.n > 0; }

  // The two figures an estimate comes from (ms per byte, mean ms); the scheduler re-ranks
  // waiting tasks when either moved by more than a factor since it last ranked them.
  struct Model {
    double rate = 0;
    double mean = 0;
  };
  Model model(TaskKind k) const;

  static std::string store_key(TaskKind k);
  std::string serialize(TaskKind k) const;
  // Takes stored sums for `k` (replacing the prior, if any). False when `text` is not valid.
  bool restore(TaskKind k, const std::string& text);

 private:
  struct Sums {
    double n = 0, ms = 0;              // every task
    double sized_ms = 0, bytes = 0;    // tasks with a size
  };
  struct Kind {
    Sums real;    // tasks observed or restored (capped at kMaxWeight)
    Sums prior;   // the seed's pseudo-tasks (never stored)
  };
  static void cap(Sums& s);
  std::array<Kind, kTaskKinds> kinds_{};
};

}  // namespace zbuild::daemon
