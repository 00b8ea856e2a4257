// zbuild-worker's help and options (worker_main.cc parses them; help_test.cc checks that
// every option is described).
#include "cli/commands.h"

namespace zbuild::cli {

static const char* kWorkerHelp =
    "usage: zbuild-worker [--daemon HOST:PORT] [--slots N] [--work-dir DIR] [--id NAME]\n"
    "                     [--heartbeat-ms N] [--liveness-ms N] [--verbose]\n"
    "\n"
    "Joins the daemon (default 127.0.0.1:7600, or $ZBUILD_DAEMON) and runs its tasks, N at a\n"
    "time (default: the number of cores), each in a fresh sandbox directory under DIR\n"
    "(default $TMPDIR/zbuild-worker-PID), where it also caches the inputs it fetched.\n"
    "The worker may start and stop at any time; it reconnects when the daemon comes back.\n"
    "\n"
    "  --daemon HOST:PORT   the daemon (default $ZBUILD_DAEMON, else 127.0.0.1:7600)\n"
    "  --slots N            tasks run at a time (default: the number of cores; 1..1024)\n"
    "  --prefetch N         tasks taken beyond the slots, their inputs fetched while the others\n"
    "                       run, so a slot never waits a network round trip for its next task\n"
    "                       (default 1; 0..4)\n"
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

}  // namespace zbuild::cli
