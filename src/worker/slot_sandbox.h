// The sandbox of one worker slot: a resident helper (zbuild-sandbox, worker/sandbox_helper.cc)
// started once inside bubblewrap as the init of the slot's PID namespace, with the slot's
// read-only root built once; per task it binds the task's folder, starts the command without
// capabilities and, when it ends, kills whatever the task left (docs/security.md, "Sandbox").
// Starting bubblewrap per task cost ~5 ms; a task through the helper costs what starting the
// command without a sandbox does (tools/bench-dispatch).
//
// TaskSandbox is the OS boundary the executor runs tasks through; SlotSandbox is the real one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/subprocess.h"

namespace zbuild::worker {

// One task, as the sandbox runs it.
struct SandboxTask {
  std::string folder;     // the task's folder: one name in the slot's area
  std::string mount_at;   // where the task sees that folder (an absolute, clean path)
  std::string cwd;        // the command's folder, as the task sees it
  std::vector<std::string> argv;
  std::vector<std::string> env;   // the command's whole environment
  int64_t timeout_ms = 0;         // 0: none
  int64_t memory_limit_mb = 0;    // address-space limit; 0: none
  size_t output_cap = 4u << 20;   // bytes kept per stream
  DueCall* due = nullptr;         // made at most once while the task runs (common/subprocess.h)
};

class TaskSandbox {
 public:
  virtual ~TaskSandbox() = default;
  // Where task folders go on this host (each task's `folder` is made here by the caller).
  virtual const std::filesystem::path& area() const = 0;
  // The command's result as run_process gives it (timed_out: killed with every process it
  // started); an error when the sandbox itself failed (an infra error: the task may run elsewhere).
  virtual Result<ProcessResult> run(const SandboxTask& t) = 0;
  // From another thread: the task running now (and any started later) is killed; run() then
  // returns an error. The worker stopping.
  virtual void abort() = 0;
};

// The system folders a bubblewrap sandbox shows: this host's (/usr, the links into it,
// /etc/alternatives, /etc/ld.so.cache, /opt), or a shipped toolchain's root (each of its
// top-level folders bound read-only, each top-level link made again).
std::vector<std::string> bwrap_system_binds(const std::filesystem::path& toolchain_root);

// The request a task makes on the wire (worker/sandbox_protocol.h): the body, and the head
// that announces it. Exposed for tests.
std::string encode_request_body(const SandboxTask& t);

class SlotSandbox final : public TaskSandbox {
 public:
  struct Config {
    std::string bwrap;                // path of bwrap
    std::string helper;               // path of zbuild-sandbox
    std::filesystem::path area;       // this slot's task folders (created if missing)
  };
  // Starts the helper and runs a probe task through it: an error when the sandbox cannot work on
  // this host (the worker then refuses to start).
  static Result<std::unique_ptr<SlotSandbox>> start(const Config& c);
  ~SlotSandbox() override;
  SlotSandbox(const SlotSandbox&) = delete;
  SlotSandbox& operator=(const SlotSandbox&) = delete;

  const std::filesystem::path& area() const override { return c_.area; }
  // A helper that died is started again first; if that fails, the task fails as an infra error.
  Result<ProcessResult> run(const SandboxTask& t) override;
  void abort() override { watch_.cancel(); }   // kills the helper's group: bubblewrap, helper and task

  int helper_pid() const { return pid_; }   // bubblewrap's pid (tests)
  int restarts() const { return restarts_; }

 private:
  explicit SlotSandbox(Config c) : c_(std::move(c)) {}
  Status launch();
  void stop();

  Config c_;
  int sock_ = -1;
  int pid_ = -1;
  ProcessWatch watch_;   // bubblewrap's group, for abort() (known until just before it is reaped)
  int restarts_ = 0;
};

// zbuild-sandbox beside this executable (else in PATH); empty when there is none.
std::string find_sandbox_helper();

}  // namespace zbuild::worker
