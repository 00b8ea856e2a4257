// zbuild: the client commands; `zbuild daemon` runs zbuild-daemon (daemon_main.cc) in its place.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include "cli/commands.h"

static const char* kHelp =
    "usage: zbuild COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  daemon   run the scheduler and cache (workers connect to it)\n"
    "  submit   build a graph.json on the daemon's workers\n"
    "  status   show workers, queue, builds and cache of a daemon\n"
    "  graph    write a graph.json from compile_commands.json or a ninja build folder\n"
    "  report   turn a build's --trace into a self-contained HTML timeline\n"
    "  keygen   write a CurveZMQ key pair for a daemon, worker or client\n"
    "  scan     show the headers each compile of a compile_commands.json reads (docs/scanner.md)\n"
    "\n"
    "`zbuild COMMAND --help` describes each. ZBUILD_DAEMON=HOST:PORT stands in for --daemon.\n"
    "Workers are a separate program: zbuild-worker --help.\n";

// The daemon is its own program (it alone loads RocksDB and hiredis), found beside this one
// and run in this process, with these arguments: the pid that started as `zbuild daemon` is the
// daemon's. Only the one beside this program (not one found on PATH: another version).
static int exec_daemon(char** argv) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    std::fprintf(stderr, "zbuild: cannot find this program's folder (/proc/self/exe): %s\n", ec.message().c_str());
    return 2;
  }
  std::string daemon = (self.parent_path() / "zbuild-daemon").string();
  ::execv(daemon.c_str(), argv);
  std::fprintf(stderr, "zbuild: cannot run the daemon program %s: %s\n", daemon.c_str(), std::strerror(errno));
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    std::fputs(kHelp, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  struct Entry {
    const char* name;
    int (*fn)(int, char**);
  };
  if (!std::strcmp(argv[1], "daemon")) return exec_daemon(argv);
  static const Entry kCommands[] = {{"submit", zbuild::cli::cmd_submit},
                                    {"status", zbuild::cli::cmd_status},
                                    {"graph", zbuild::cli::cmd_graph},
                                    {"report", zbuild::cli::cmd_report},
                                    {"keygen", zbuild::cli::cmd_keygen},
                                    {"scan", zbuild::cli::cmd_scan}};
  try {
    for (auto& e : kCommands) {
      if (!std::strcmp(argv[1], e.name)) return e.fn(argc, argv);
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "zbuild: fatal: %s\n", ex.what());
    return 3;
  }
  std::fprintf(stderr, "zbuild: unknown command '%s'\n%s", argv[1], kHelp);
  return 2;
}
