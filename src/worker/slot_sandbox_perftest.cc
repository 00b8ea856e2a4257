// slot_sandbox_perftest: what the slot sandbox adds to one task. Runs `true` N times directly
// (run_process, as `--sandbox none` does) or N times through one SlotSandbox, and prints the wall
// time per task. For CPU time run one mode at a time under `perf stat -e task-clock` (it counts
// every descendant; the helper's are not reaped by this process, so getrusage cannot).
//
// usage: slot_sandbox_perftest direct|sandbox [N] [HELPER]   (N: 1000; needs bubblewrap)
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/clock.h"
#include "common/subprocess.h"
#include "common/temp_dir.h"
#include "worker/executor.h"
#include "worker/slot_sandbox.h"

using namespace zbuild;
using namespace zbuild::worker;

namespace {

void report(const char* what, int n, int64_t wall_us) {
  std::printf("%-28s %8.3f ms wall/task\n", what, static_cast<double>(wall_us) / 1e3 / n);
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  int n = argc > 2 ? std::atoi(argv[2]) : 1000;
  if ((mode != "direct" && mode != "sandbox") || n <= 0) {
    std::fprintf(stderr, "usage: slot_sandbox_perftest direct|sandbox [N] [HELPER]\n");
    return 2;
  }
  TempDir t("slot-perf");
  std::filesystem::create_directories(t.path / "direct");
  if (mode == "direct") {
    ProcessSpec ps;
    ps.argv = {"true"};
    ps.cwd = (t.path / "direct").string();
    ps.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
    ps.use_env = true;
    int64_t w0 = mono_us();
    for (int i = 0; i < n; ++i) {
      auto r = run_process(ps);
      if (!r.ok() || r.value().exit_code != 0) return std::fprintf(stderr, "direct run failed\n"), 1;
    }
    report("direct (--sandbox none)", n, mono_us() - w0);
    return 0;
  }
  std::string helper = argc > 3 ? argv[3] : find_sandbox_helper();
  int64_t w1 = mono_us();
  auto s = SlotSandbox::start({probe_bwrap(), helper, t.path / "area"});
  if (!s.ok()) return std::fprintf(stderr, "%s\n", s.error().message.c_str()), 1;
  report("helper start (once per slot)", 1, mono_us() - w1);
  SandboxTask k;
  k.folder = "task";
  std::filesystem::create_directories(s.value()->area() / k.folder);
  k.mount_at = "/home/u/proj";
  k.cwd = "/home/u/proj";
  k.argv = {"true"};
  k.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  k.memory_limit_mb = 8192;
  w1 = mono_us();
  for (int i = 0; i < n; ++i) {
    auto r = s.value()->run(k);
    if (!r.ok() || r.value().exit_code != 0) return std::fprintf(stderr, "sandboxed run failed\n"), 1;
  }
  report("slot sandbox", n, mono_us() - w1);
  return 0;
}
