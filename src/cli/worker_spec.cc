// zbuild-worker's help and options (worker_main.cc parses them; help_test.cc checks that
// every option is described).
#include "cli/commands.h"

#include <cstdio>

#include "common/address.h"
#include "worker/worker.h"

namespace zbuild::cli {

static const char* kWorkerHelp =
    "usage: zbuild-worker [--daemon HOST:PORT] [--slots N] [--work-dir DIR] [--id NAME]\n"
    "                     [--heartbeat-ms N] [--liveness-ms N] [--verbose]\n"
    "\n"
    "Joins the daemon (default 127.0.0.1:7600, or $ZBUILD_DAEMON) and runs its tasks, N at a\n"
    "time (default: the number of cores), each in a fresh sandbox directory under DIR\n"
    "(default $TMPDIR/zbuild-worker-PID), where it also caches the inputs it fetched.\n"
    "That default folder goes when the worker stops; one left by a killed worker is removed\n"
    "by the next worker of the user to start there.\n"
    "The worker may start and stop at any time; it reconnects when the daemon comes back.\n"
    "\n"
    "  --daemon HOST:PORT   the daemon (default $ZBUILD_DAEMON, else 127.0.0.1:7600)\n"
    "  --slots N            tasks run at a time (default: the number of cores; 1..1024)\n"
    "  --prefetch N         tasks queued beyond the slots, their inputs fetched while the others\n"
    "                       run, so a slot never waits a network round trip for its next task:\n"
    "                       one, and up to N while the tasks take under 25 ms each, their\n"
    "                       results then sent in groups (default 16; 0..16)\n"
    "  --work-dir DIR       sandboxes and the input cache (default $TMPDIR/zbuild-worker-PID)\n"
    "  --task-dir DIR       where task folders go (emptied at start and stop); \"disk\": under\n"
    "                       the work folder. Default: a private folder on /dev/shm when that is\n"
    "                       a memory file system with 1 GiB free (a task's files then cost no\n"
    "                       disk inode), else under the work folder\n"
    "  --id NAME            the worker's name in zbuild status and progress lines (default:\n"
    "                       host name and pid)\n"
    "  --heartbeat-ms N     how often the daemon is pinged (default 1000)\n"
    "  --liveness-ms N      a daemon silent this long is lost: reconnect (default 3000)\n"
    "  --curve-key FILE     the worker's secret key, for a daemon with CurveZMQ keys\n"
    "                       ($ZBUILD_CURVE_KEY); with --daemon-key\n"
    "  --daemon-key FILE    the daemon's public key ($ZBUILD_DAEMON_KEY)\n"
    "  --verbose            debug logging\n"
    "\n"
    "Safety: a task runs only if its program is allow-listed (the C/C++ toolchain: gcc, g++,\n"
    "cc, c++, clang, clang++, ar, ranlib, ld, as, ...; add more with --allow-program NAME,\n"
    "repeatable, or --allow-any-program), in a bubblewrap sandbox: only its directory\n"
    "writable, /usr read-only, no network, other files invisible, a clean environment; with an\n"
    "address-space limit.\n"
    "  --allow-program NAME allow one more program (repeatable)\n"
    "  --allow-any-program  allow every program (the sandbox still applies)\n"
    "  --memory-limit-mb N  address-space limit of a task in MiB (default 8192; 0: none)\n"
    "  --sandbox auto|bwrap|none  auto and bwrap: bubblewrap, and the worker refuses to start\n"
    "                       when it cannot run here; none: tasks run in a plain directory\n"
    "                       (the daemon shows the worker as unsandboxed)\n"
    "  --allow-option OPT   allow a compiler option that runs programs or loads code (-wrapper,\n"
    "                       -B, -fplugin, -specs, --gcc-toolchain, -fuse-ld, -plugin, ...;\n"
    "                       refused by default), repeatable\n"
    "  --toolchain-dir DIR  a folder whose files tasks may name as toolchain files, besides\n"
    "                       /usr, /opt and the /lib, /bin links into /usr; repeatable\n"
    "Tasks whose environment sets loader or interpreter variables (LD_*, GCONV_PATH,\n"
    "MALLOC_*, PYTHON*, ...) or PATH are refused.\n";

const CommandSpec& worker_spec() {
  static const CommandSpec spec{"zbuild-worker", kWorkerHelp};
  return spec;
}

int worker_options(const Args& args, worker::WorkerOptions& o) {
  o.daemon = daemon_address_from(args.get("--daemon"));
  o.work_dir = args.get("--work-dir");
  o.task_dir = args.get("--task-dir");
  o.id = args.get("--id");
  o.curve_key = args.get("--curve-key");
  o.daemon_key = args.get("--daemon-key");
  o.sandbox = args.get("--sandbox", "auto");
  if (o.sandbox != "auto" && o.sandbox != "bwrap" && o.sandbox != "none") {
    std::fprintf(stderr, "zbuild-worker: --sandbox takes auto, bwrap or none\n");
    return 2;
  }
  o.allow_programs = args.multi("--allow-program");
  o.allow_any_program = args.has("--allow-any-program");
  o.allow_options = args.multi("--allow-option");
  o.toolchain_dirs = args.multi("--toolchain-dir");
  for (auto& d : o.toolchain_dirs) {
    if (d.empty() || d[0] != '/') {
      std::fprintf(stderr, "zbuild-worker: --toolchain-dir takes an absolute folder, not '%s'\n", d.c_str());
      return 2;
    }
  }
  if (args.values.count("--memory-limit-mb")) {
    auto v = to_int("--memory-limit-mb", args.get("--memory-limit-mb"));
    if (!v.ok() || v.value() < 0) {
      std::fprintf(stderr, "zbuild-worker: --memory-limit-mb takes a number of MiB (0: none)\n");
      return 2;
    }
    o.memory_limit_mb = v.value();
  }
  for (auto [opt, dst] : {std::pair{"--heartbeat-ms", &o.heartbeat_ms}, std::pair{"--liveness-ms", &o.liveness_ms}}) {
    if (args.values.count(opt)) {
      auto v = to_int(opt, args.get(opt));
      if (!v.ok() || v.value() <= 0) {
        std::fprintf(stderr, "zbuild-worker: %s must be a positive number\n", opt);
        return 2;
      }
      *dst = v.value();
    }
  }
  if (args.values.count("--prefetch")) {
    auto v = to_int("--prefetch", args.get("--prefetch"));
    if (!v.ok() || v.value() < 0 || v.value() > worker::kMaxPrefetch) {
      std::fprintf(stderr, "zbuild-worker: --prefetch must be between 0 and %d\n", worker::kMaxPrefetch);
      return 2;
    }
    o.prefetch = v.value();
  }
  if (args.values.count("--slots")) {
    auto v = to_int("--slots", args.get("--slots"));
    if (!v.ok() || v.value() <= 0 || v.value() > 1024) {
      std::fprintf(stderr, "zbuild-worker: --slots must be between 1 and 1024\n");
      return 2;
    }
    o.slots = v.value();
  }
  return 0;
}

}  // namespace zbuild::cli
