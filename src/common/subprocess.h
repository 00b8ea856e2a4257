// Subprocess: the process-runner seam, the only place zbuild starts processes. run_process runs
// argv in a directory with an explicit environment, captures stdout and stderr, and kills the
// whole process group on timeout; start_detached starts a long-running command (launched
// workers) that the caller signals and reaps. (zbuild-cc's local fallback execs the compiler in
// its own place: that starts no process.)
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"

namespace zbuild {

// Lets another thread stop the commands run_process runs with it (several at once): cancel()
// kills their process groups now, and any started later at once. A group is known only from
// its start until just before its leader is reaped, so a killed group id is never one the
// system reused.
class ProcessWatch {
 public:
  void cancel();
  bool cancelled();
  // run_process's side: a group started (false: cancelled, the caller kills it), and ended.
  bool started(int pgid);
  void ended(int pgid);

 private:
  std::mutex mu_;
  std::vector<int> groups_;
  bool cancelled_ = false;
};

// A call the thread waiting for a command makes once, `after_ms` after the command started, if
// the command still runs then (the worker's slot sends the results it held back while it
// runs its next task: worker/outbox.h). after_ms < 0: none.
struct DueCall {
  int64_t after_ms = -1;
  std::function<void()> call;
};

// The waiting loop's side (run_process, the slot sandbox): when `due` falls due for a command
// started at `start_ms` (0: never); the poll timeout toward the nearer of `deadline_ms` and
// `due_at` (0: neither; -1: wait without end); and the call made once it is due (due_at then 0).
int64_t due_time(const DueCall* due, int64_t start_ms);
int poll_timeout(int64_t deadline_ms, int64_t due_at);
void call_if_due(const DueCall* due, int64_t& due_at);

struct ProcessSpec {
  std::vector<std::string> argv;
  std::string cwd;                  // empty: inherit
  std::vector<std::string> env;     // "K=V"; used as the whole environment when use_env
  bool use_env = false;
  int64_t timeout_ms = 0;           // 0: none
  size_t output_cap = 64u << 20;    // bytes kept per stream
  uint64_t address_space_limit = 0; // RLIMIT_AS of the command in bytes (0: inherited)
  ProcessWatch* watch = nullptr;    // another thread may cancel the command through it
  DueCall* due = nullptr;           // made at most once while the command runs
  // The command ends when its first process does: the rest of its process group is killed then
  // (as after any command) instead of being waited for while it holds the output open. The
  // calling thread's output pipes are then kept for its next command and it is woken once per
  // command (a pidfd), not once per pipe and again for the exit. Where pidfds are missing
  // (Linux < 5.3) the command runs the ordinary way. A process that left the group (setsid)
  // and still writes after the command ended is not heard: what it wrote by the thread's next
  // command is discarded then (what it writes later would be taken for that command's).
  bool ends_with_main = false;
};

struct ProcessResult {
  int exit_code = -1;       // exit status, or 128+signal when killed by one
  bool timed_out = false;
  std::string out;
  std::string err;
  int64_t duration_ms = 0;
};

// Fails only when the process could not be started (spawn error names argv[0]).
Result<ProcessResult> run_process(const ProcessSpec& spec);

// Starts `/bin/sh -c shell_command` in a new process group (its pid is the group id), with
// default signal handling, an empty signal mask and stdin from /dev/null; returns its pid. Does
// not wait: the caller reaps it (waitpid) and may signal the group (kill(-pid, sig)).
Result<int> start_detached(const std::string& shell_command);

// Starts `argv` (argv[0] a path) with exactly `env` as its environment, stdin and stdout on
// /dev/null, stderr this process's, and this process's fd `pass_fd` as fd `as_fd` in the child
// (close-on-exec cleared there only); its own process group, default signals, an empty mask.
// Returns its pid; the caller reaps it. (The worker's resident sandbox helpers.)
Result<int> spawn_with_fd(const std::vector<std::string>& argv, const std::vector<std::string>& env, int pass_fd,
                          int as_fd);

// The same for a program and its arguments, no shell: `extra_env` ("NAME=value") is added to
// this process's environment (never to the command line, where other users could read it), and
// with `quiet` stdout and stderr go to /dev/null.
Result<int> start_detached(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env, bool quiet);

// The program `name` beside this executable (/proc/self/exe's folder), else `name` (found in PATH).
std::string sibling_program(const std::string& name);

// Finds `name` in PATH (or returns it when it contains a '/'). Empty when not found.
std::string find_in_path(const std::string& name, const std::string& skip_realpath = "");

}  // namespace zbuild
