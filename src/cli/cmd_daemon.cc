// zbuild daemon
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/signals.h"
#include "common/log.h"
#include "daemon/daemon.h"

namespace zbuild::cli {

static const char* kDaemonHelp =
    "usage: zbuild daemon [--listen HOST:PORT] [--store DIR|redis://HOST:PORT[/DB]]\n"
    "                     [--heartbeat-ms N] [--liveness-ms N] [--max-attempts N]\n"
    "                     [--ready-file FILE] [--insecure] [--verbose]\n"
    "\n"
    "Runs the scheduler and the cache. HOST:PORT (default 127.0.0.1:7600, or $ZBUILD_DAEMON)\n"
    "names the daemon: PORT takes workers, PORT+1 results, PORT+2 clients. Binds loopback\n"
    "unless told otherwise; any other address needs --insecure. The store defaults to\n"
    "$XDG_CACHE_HOME/zbuild/store (else ~/.cache/zbuild/store), a RocksDB directory.\n"
    "--ready-file is written once the sockets are bound (for scripts and tests).\n";

int cmd_daemon(int argc, char** argv) {
  auto args = parse_args(argc, argv, 2,
                         {{"--listen", "--store", "--heartbeat-ms", "--liveness-ms", "--max-attempts", "--ready-file"},
                          {"--insecure", "--verbose"}});
  if (!args.ok()) {
    std::fprintf(stderr, "zbuild daemon: %s\n%s", args.error().message.c_str(), kDaemonHelp);
    return 2;
  }
  if (args->help) {
    std::fputs(kDaemonHelp, stdout);
    return 0;
  }
  daemon::DaemonOptions o;
  o.listen = daemon_address(args->get("--listen"));
  o.store = args->get("--store");
  o.insecure = args->has("--insecure");
  o.ready_file = args->get("--ready-file");
  for (auto [opt, dst] : {std::pair{"--heartbeat-ms", &o.heartbeat_ms}, std::pair{"--liveness-ms", &o.liveness_ms}}) {
    if (args->values.count(opt)) {
      auto v = to_int(opt, args->get(opt));
      if (!v.ok() || v.value() <= 0) {
        std::fprintf(stderr, "zbuild daemon: %s must be a positive number\n", opt);
        return 2;
      }
      *dst = v.value();
    }
  }
  if (args->values.count("--max-attempts")) {
    auto v = to_int("--max-attempts", args->get("--max-attempts"));
    if (!v.ok() || v.value() <= 0) {
      std::fprintf(stderr, "zbuild daemon: --max-attempts must be a positive number\n");
      return 2;
    }
    o.max_attempts = v.value();
  }
  log::init("daemon", args->has("--verbose") ? log::Level::debug : log::Level::info);
  const auto& stop = install_stop_signals();
  auto r = daemon::run_daemon(o, stop);
  if (!r.ok()) {
    std::fprintf(stderr, "zbuild daemon: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace zbuild::cli
