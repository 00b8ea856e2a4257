// Executor: runs one action in a fresh sandbox directory that stands in for the exec root.
// Inputs are copied in from the blob cache, argv is mapped from the client's root to the
// sandbox, compiles get -ffile-prefix-map so their objects match a local build byte for byte,
// and the declared outputs are hashed when the command ends. Nothing is written outside the
// sandbox by zbuild itself; declared paths are checked to stay inside it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"
#include "proto/action.h"
#include "worker/blob_cache.h"
#include "worker/host_check.h"

namespace zbuild::worker {

struct ExecResult {
  int exit_code = 0;
  std::string out;
  std::string err;
  std::vector<OutputSpec> outputs;
  std::string infra_error;   // non-empty: did not run properly; the daemon retries elsewhere
  int64_t run_ms = 0;
  std::filesystem::path sandbox;   // still present until cleanup()
};

class Executor {
 public:
  Executor(std::filesystem::path sandbox_root, BlobCache& cache, HostFileChecker& hosts)
      : sandbox_root_(std::move(sandbox_root)), cache_(cache), hosts_(hosts) {}

  ExecResult run(const ActionSpec& a, const std::string& name);
  void cleanup(const ExecResult& r);

  // The argv the worker runs: root-prefixed arguments mapped into the sandbox, plus the
  // prefix map for C/C++ compiles. Exposed for tests.
  static std::vector<std::string> map_argv(const ActionSpec& a, const std::string& sandbox);
  static bool is_c_compiler(const std::string& argv0);

 private:
  std::filesystem::path sandbox_root_;
  BlobCache& cache_;
  HostFileChecker& hosts_;
};

}  // namespace zbuild::worker
