// Worker launching, the SprayCC way: the daemon starts workers through a command template
// (`srun ...`, `bsub ...`, `qsub ...`, `ssh host ...`, or a plain local command), grows the pool
// while tasks wait for a slot, and releases workers that stay idle.
//
// Policy, evaluated once per daemon loop iteration (tick):
//  * keep at least `min_workers` launched (started and not yet exited);
//  * launch one more while tasks wait for a slot (ready > number pending), fewer than
//    `max_pending` launches are pending (started, not yet joined: e.g. srun waiting for an
//    allocation) and fewer than `max_workers` are launched;
//  * release (SIGTERM to the launch command's process group) a joined worker that has had no
//    task for `release_after_ms` while nothing waits, as long as more than `min_workers` remain;
//    one not gone 10 s later gets SIGKILL;
//  * a launch that exits without ever joining counts as a failure and delays the next launch
//    (1 s, doubling up to 60 s), so a broken command does not spin.
// Each launch gets a worker id `<prefix>-<n>`; the template's {daemon} and {id} are replaced by
// the daemon address and that id, each on its own: ` --daemon ADDR` is appended when the
// template has no {daemon}, ` --id ID` when it has no {id} (so `srun -n1 zbuild-worker` works as
// it is, and so does `... zbuild-worker --daemon {daemon}`).
#pragma once

#include <cstdint>
#include <map>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "daemon/registry.h"

namespace zbuild::daemon {

struct LaunchPolicy {
  std::string command;             // shell command template; empty: no launching
  int min_workers = 0;
  int max_workers = 0;
  int max_pending = 2;
  int64_t release_after_ms = 60000;   // 0: never release (a worker keeps its slot all build)
  std::string id_prefix = "launch";
};

// Starting and stopping launch commands: the seam the tests replace.
class ProcessControl {
 public:
  virtual ~ProcessControl() = default;
  // Runs `shell_command` with /bin/sh -c in a new process group; returns its pid.
  virtual Result<int> start(const std::string& shell_command) = 0;
  virtual void signal(int pid, int sig) = 0;        // to the process group
  // Pids (and wait statuses) of started commands that have exited since the last call.
  virtual std::vector<std::pair<int, int>> reap() = 0;
};

// The real thing: fork and exec (through zbuild-launch, daemon/launch_guard.cc, when it is
// beside this program: the pid then ends when everything the command started has), kill(-pid),
// waitpid(WNOHANG).
class PosixProcessControl final : public ProcessControl {
 public:
  Result<int> start(const std::string& shell_command) override;
  void signal(int pid, int sig) override;
  std::vector<std::pair<int, int>> reap() override;

 private:
  std::vector<int> pids_;
};

struct LauncherCounters {
  uint64_t launched = 0;
  uint64_t joined = 0;
  uint64_t released = 0;
  uint64_t failed = 0;     // exited without joining
};

class Launcher {
 public:
  Launcher(const Clock& clock, ProcessControl& procs, LaunchPolicy policy, std::string daemon_address);
  ~Launcher();   // stops every launched command

  // `ready`: tasks waiting for a slot (after dispatch).
  void tick(size_t ready, const Registry& registry);
  // SIGTERM to every launch, SIGKILL to those still there after `grace_ms` (reaping meanwhile,
  // waiting with the launcher's clock: a FakeClock makes it return without sleeping).
  void stop_all(int64_t grace_ms = 5000);

  const LauncherCounters& counters() const { return counters_; }
  size_t launched() const { return launches_.size(); }
  // The command line for worker `id` (template substitution, see above).
  std::string command_for(const std::string& id) const;

 private:
  struct Launch {
    int pid = 0;
    std::string id;
    int64_t started_ms = 0;
    bool joined = false;          // seen in the registry at least once
    bool present = false;         // in the registry now
    int64_t idle_since_ms = 0;
    int64_t released_ms = 0;      // 0: not released
  };
  void launch_one();

  const Clock& clock_;
  ProcessControl& procs_;
  LaunchPolicy policy_;
  std::string address_;
  std::map<int, Launch> launches_;   // by pid
  uint64_t seq_ = 0;
  int failures_in_a_row_ = 0;
  int64_t next_launch_ms_ = 0;
  LauncherCounters counters_;
};

// The command line for worker `id` from `tmpl` (see the top of this file).
std::string launch_command(const std::string& tmpl, const std::string& address, const std::string& id);

constexpr int kDefaultMaxWorkers = 4;

// The CPUs of a Slurm cluster from the output of `sinfo -h -o %C` (one "ALLOCATED/IDLE/OTHER/
// TOTAL" line per partition): the largest TOTAL, as partitions may share nodes. Nothing when
// the output has no such line.
std::optional<int> parse_sinfo_cpus(const std::string& out);

// Runs argv and returns its stdout, or an error when it cannot run or exits non-zero.
using CommandOutput = std::function<Result<std::string>(const std::vector<std::string>& argv)>;

// The default --max-workers for launch template `tmpl`: the cluster's CPUs when the template
// starts workers through Slurm (its first word, after VAR=VALUE words, is srun, sbatch or
// salloc) and `sinfo -h -o %C` tells them; else kDefaultMaxWorkers. `note` says which.
int default_max_workers(const std::string& tmpl, const CommandOutput& run, std::string* note);
CommandOutput real_command_output();   // run_process with a 10 s timeout

// The path of this program's sibling `zbuild-worker` (same directory), else "zbuild-worker".
std::string sibling_worker_path();

// The workspace file zbuild-cc looks for (`.zbuild-daemon` in DIR; runner/discovery.h reads
// it): written once the daemon listens, removed when it stops, if it still names this daemon.
class WorkspaceFile {
 public:
  WorkspaceFile(std::string dir, std::string address) : dir_(std::move(dir)), address_(std::move(address)) {}
  ~WorkspaceFile();
  WorkspaceFile(const WorkspaceFile&) = delete;
  WorkspaceFile& operator=(const WorkspaceFile&) = delete;
  Status write();   // no-op without a directory

 private:
  std::string path() const { return dir_ + "/.zbuild-daemon"; }
  std::string dir_, address_;
  bool written_ = false;
};

// Idle exit: true once nothing has happened (no client message, no build in progress, no
// worker busy) for `idle_ms`.
class IdleWatch {
 public:
  IdleWatch(const Clock& clock, int64_t idle_ms) : clock_(clock), idle_ms_(idle_ms), last_(clock.now_ms()) {}
  void activity() { last_ = clock_.now_ms(); }
  bool expired() const { return idle_ms_ > 0 && clock_.now_ms() - last_ >= idle_ms_; }

 private:
  const Clock& clock_;
  int64_t idle_ms_;
  int64_t last_;
};

}  // namespace zbuild::daemon
