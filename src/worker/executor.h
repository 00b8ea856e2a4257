// Executor: runs one action in a fresh sandbox directory that stands in for the exec root.
// Inputs are copied in from the blob cache, argv is mapped from the client's root to the
// sandbox, compiles get -ffile-prefix-map so their objects match a local build byte for byte,
// and the declared outputs are hashed when the command ends. Nothing is written outside the
// sandbox by zbuild itself; declared paths are checked to stay inside it.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/subprocess.h"
#include "proto/action.h"
#include "worker/blob_cache.h"
#include "worker/host_check.h"
#include "worker/slot_sandbox.h"

namespace zbuild::worker {

struct ExecResult {
  int exit_code = 0;
  std::string out;
  std::string err;
  std::vector<OutputSpec> outputs;
  std::string infra_error;   // non-empty: did not run properly; the daemon retries elsewhere
  int64_t run_ms = 0;
  std::filesystem::path sandbox;   // still present until cleanup()
  // The slot's own folder: cleanup() empties it and keeps it for the slot's next task (a
  // sandbox leaves no process of the task that could still write into it; without one, such a
  // process could write anywhere the worker can anyway).
  bool reuse = false;
};

// What a worker lets a task do (issue: safe to expose). Programs: the usual C/C++ toolchain
// by default, plus what the operator allows. Isolation: bubblewrap when available (only the
// sandbox writable, /usr read-only, no network, no other files), else a plain directory.
struct SandboxPolicy {
  bool use_bwrap = false;
  std::string bwrap;                   // path of bwrap
  std::vector<std::string> allowed;    // extra program names or absolute paths
  bool allow_any = false;
  std::set<std::string> allowed_options;   // compiler options allowed despite cmd::check_compiler_options
  int64_t memory_limit_mb = 8192;      // address-space limit per task (0: none)
};

// True when argv[0] may run under `p`. `why` names the refusal. A program given by path must
// be an absolute path outside the task's exec root `root` (a shipped input is never a program).
bool program_allowed(const SandboxPolicy& p, const std::string& argv0, std::string* why, const std::string& root = "");

// True when every folder on the way from `dir` to `rel` is a real folder (no symlink), so a
// file found there lies inside `dir`. Outputs are checked with it before the worker reads them.
bool inside_without_links(const std::filesystem::path& dir, const std::string& rel);

// Everything a task must not do, checked before anything runs: the program, its environment
// (no loader or interpreter variables), its options (none that run other programs or load
// code, response files under `sandbox_cwd` expanded first). Empty when the task may run.
std::string refusal(const SandboxPolicy& p, const ActionSpec& a, const std::string& sandbox_cwd);
// The options part of refusal() alone (response files expanded first), for a task whose program
// and environment were checked already.
std::string options_refusal(const SandboxPolicy& p, const ActionSpec& a, const std::string& sandbox_cwd);
// Finds bwrap and checks that it can create a sandbox here; empty when it cannot.
std::string probe_bwrap();

// Where a task's files outside the root come from: a shipped toolchain's private root
// (worker/toolchains.h) that the sandbox shows in place of this host's /usr, /lib, ...; else this
// host's own files, checked by Executor::run unless the caller just checked them (a task with a
// toolchain tree: Toolchains::host_matches).
struct HostSide {
  std::filesystem::path shipped_root;
  bool checked = false;
};

class Executor {
 public:
  Executor(std::filesystem::path sandbox_root, BlobCache& cache, HostFileChecker& hosts, SandboxPolicy policy = {})
      : sandbox_root_(std::move(sandbox_root)), cache_(cache), hosts_(hosts), policy_(std::move(policy)) {}

  // `slot`: the slot's sandbox; with bubblewrap, tasks on this host's files run through it (their
  // folder in its area), others in a bubblewrap of their own under the sandbox root.
  // `slot_index` (>= 0), or a slot sandbox: the task runs in the slot's own folder, emptied
  // after its last task (no new inode, no rename per task), also without a slot sandbox;
  // otherwise in a new folder `name`.
  ExecResult run(const ActionSpec& a, const std::string& name, const HostSide& host = HostSide(),
                 TaskSandbox* slot = nullptr, int slot_index = -1, DueCall* due = nullptr);
  void cleanup(const ExecResult& r);
  // How many times cleanup() listed a reused folder to empty it (the others were seen to be
  // empty already: empty_for_reuse). For tests.
  uint64_t listings() const { return listings_.load(); }
  // From another thread (the worker stopping): every command running now is killed, and any
  // started later at once. Tasks through a slot sandbox are stopped with TaskSandbox::abort().
  void cancel_all();

  // The argv the worker runs: root-prefixed arguments mapped into the sandbox, plus the
  // prefix map for C/C++ compiles. Exposed for tests.
  static std::vector<std::string> map_argv(const ActionSpec& a, const std::string& sandbox);

 private:
  std::filesystem::path sandbox_root_;
  BlobCache& cache_;
  HostFileChecker& hosts_;
  SandboxPolicy policy_;
  // What an emptied folder looked like (device, inode, size, links), on a memory file system
  // whose folder sizes count their entries: a folder that still looks so after a task is empty.
  struct FolderStamp {
    uint64_t dev = 0, ino = 0, size = 0, links = 0;
    bool operator==(const FolderStamp&) const = default;
  };
  struct EmptyStamp {
    bool known = false;
    FolderStamp top, tmp;   // the task folder and its .zbuild-tmp
  };
  static FolderStamp stamp_of(const struct stat& st);
  static bool looks_as_left(const std::filesystem::path& path, const FolderStamp& want);
  bool empty_for_reuse(const std::filesystem::path& dir, EmptyStamp& stamp);

  std::mutex ready_mu_;
  std::set<std::filesystem::path> ready_;   // slot folders this executor emptied for their next task
  std::map<std::filesystem::path, EmptyStamp> stamps_;   // each slot folder's, once emptied
  std::atomic<uint64_t> listings_{0};
  ProcessWatch watch_;                      // every command run_process starts here (cancel_all)
};

}  // namespace zbuild::worker
