// zbuild-worker: runs tasks for a daemon.
#include <cstdio>
#include <exception>

#include "cli/args.h"
#include "cli/signals.h"
#include "common/address.h"
#include "common/log.h"
#include "worker/worker.h"

static const char* kHelp =
    "usage: zbuild-worker [--daemon HOST:PORT] [--slots N] [--work-dir DIR] [--id NAME]\n"
    "                     [--heartbeat-ms N] [--liveness-ms N] [--verbose]\n"
    "\n"
    "Joins the daemon (default 127.0.0.1:7600, or $ZBUILD_DAEMON) and runs its tasks, N at a\n"
    "time (default: the number of cores), each in a fresh sandbox directory under DIR\n"
    "(default $TMPDIR/zbuild-worker-PID), where it also caches the inputs it fetched.\n"
    "The worker may start and stop at any time; it reconnects when the daemon comes back.\n"
    "With --curve-key FILE (its secret key) and --daemon-key FILE (the daemon's public key) —\n"
    "or $ZBUILD_CURVE_KEY and $ZBUILD_DAEMON_KEY — it talks CurveZMQ to a daemon that has keys.\n"
    "\n"
    "Safety: a task runs only if its program is allow-listed (the C/C++ toolchain: gcc, g++,\n"
    "cc, c++, clang, clang++, ar, ranlib, ld, as, ...; add more with --allow-program NAME,\n"
    "repeatable, or --allow-any-program), in a bubblewrap sandbox: only its directory\n"
    "writable, /usr read-only, no network, other files invisible, a clean environment; with an\n"
    "address-space limit (--memory-limit-mb, default 8192; 0: none).\n"
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

int main(int argc, char** argv) {
  using namespace zbuild;
  auto args = cli::parse_args(argc, argv, 1, {{"--daemon", "--slots", "--work-dir", "--id", "--heartbeat-ms", "--liveness-ms",
                                                "--curve-key", "--daemon-key", "--sandbox", "--allow-program",
                                                "--memory-limit-mb", "--allow-option", "--toolchain-dir"},
                                              {"--verbose", "--allow-any-program"}});
  if (!args.ok()) {
    std::fprintf(stderr, "zbuild-worker: %s\n%s", args.error().message.c_str(), kHelp);
    return 2;
  }
  if (args->help) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  worker::WorkerOptions o;
  o.daemon = daemon_address_from(args->get("--daemon"));
  o.work_dir = args->get("--work-dir");
  o.id = args->get("--id");
  o.curve_key = args->get("--curve-key");
  o.daemon_key = args->get("--daemon-key");
  o.sandbox = args->get("--sandbox", "auto");
  if (o.sandbox != "auto" && o.sandbox != "bwrap" && o.sandbox != "none") {
    std::fprintf(stderr, "zbuild-worker: --sandbox takes auto, bwrap or none\n");
    return 2;
  }
  o.allow_programs = args->multi("--allow-program");
  o.allow_any_program = args->has("--allow-any-program");
  o.allow_options = args->multi("--allow-option");
  o.toolchain_dirs = args->multi("--toolchain-dir");
  for (auto& d : o.toolchain_dirs) {
    if (d.empty() || d[0] != '/') {
      std::fprintf(stderr, "zbuild-worker: --toolchain-dir takes an absolute folder, not '%s'\n", d.c_str());
      return 2;
    }
  }
  if (args->values.count("--memory-limit-mb")) {
    auto v = cli::to_int("--memory-limit-mb", args->get("--memory-limit-mb"));
    if (!v.ok() || v.value() < 0) {
      std::fprintf(stderr, "zbuild-worker: --memory-limit-mb takes a number of MiB (0: none)\n");
      return 2;
    }
    o.memory_limit_mb = v.value();
  }
  for (auto [opt, dst] : {std::pair{"--heartbeat-ms", &o.heartbeat_ms}, std::pair{"--liveness-ms", &o.liveness_ms}}) {
    if (args->values.count(opt)) {
      auto v = cli::to_int(opt, args->get(opt));
      if (!v.ok() || v.value() <= 0) {
        std::fprintf(stderr, "zbuild-worker: %s must be a positive number\n", opt);
        return 2;
      }
      *dst = v.value();
    }
  }
  if (args->values.count("--slots")) {
    auto v = cli::to_int("--slots", args->get("--slots"));
    if (!v.ok() || v.value() <= 0 || v.value() > 1024) {
      std::fprintf(stderr, "zbuild-worker: --slots must be between 1 and 1024\n");
      return 2;
    }
    o.slots = v.value();
  }
  log::init("worker", args->has("--verbose") ? log::Level::debug : log::Level::info);
  const auto& stop = cli::install_stop_signals();
  try {
    auto r = worker::run_worker(o, stop);
    if (!r.ok()) {
      std::fprintf(stderr, "zbuild-worker: %s\n", r.error().message.c_str());
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zbuild-worker: fatal: %s\n", e.what());
    return 3;
  }
  return 0;
}
