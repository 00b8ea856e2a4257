// zbuild status
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "client/status.h"

namespace zbuild::cli {

static const char* kStatusHelp =
    "usage: zbuild status [--daemon HOST:PORT] [--json] [--curve-key FILE --daemon-key FILE]\n"
    "\n"
    "Shows the daemon's workers (host, slots, busy, tasks done, last heartbeat), its queue,\n"
    "the builds in progress, the store's size and the cache hit rate since it started.\n"
    "\n"
    "  --daemon HOST:PORT  the daemon (default $ZBUILD_DAEMON, else 127.0.0.1:7600)\n"
    "  --json              the status as JSON (format: src/daemon/status.h, version 1)\n"
    "  --curve-key FILE    this client's secret key, for a daemon with CurveZMQ keys\n"
    "                      ($ZBUILD_CURVE_KEY); with --daemon-key\n"
    "  --daemon-key FILE   the daemon's public key ($ZBUILD_DAEMON_KEY)\n";

const CommandSpec& status_spec() {
  static const CommandSpec spec{"status", kStatusHelp};
  return spec;
}

int cmd_status(int argc, char** argv) {
  int exit = 0;
  auto args = read_command_line(status_spec(), argc, argv, 2, &exit);
  if (!args) return exit;
  return client::run_status(daemon_address(args->get("--daemon")), args->has("--json"), args->get("--curve-key"),
                            args->get("--daemon-key"));
}

}  // namespace zbuild::cli
