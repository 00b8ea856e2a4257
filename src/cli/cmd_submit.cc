// zbuild submit
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "client/submit.h"
#include "common/address.h"

namespace zbuild::cli {

static const char* kSubmitHelp =
    "usage: zbuild submit [--daemon HOST:PORT] [--metrics-out FILE] [--csv-out FILE]\n"
    "                     [--trace FILE] [--keep-going] [--require-sandbox] [--wait-daemon SECONDS]\n"
    "                     [--local-slots N] [--keep-root-paths] [--quiet] GRAPH\n"
    "\n"
    "Builds the tasks of GRAPH (graph.json, docs/graph-format.md) on the daemon's workers,\n"
    "answering from the cache whatever was built before, and writes the outputs under the\n"
    "graph's root. Exit status: 0 all tasks succeeded, 1 a task failed or the daemon was\n"
    "lost, 2 bad usage or an invalid graph (nothing is run).\n"
    "\n"
    "  --daemon HOST:PORT  the daemon (default $ZBUILD_DAEMON, else 127.0.0.1:7600)\n"
    "  --metrics-out FILE  the build's metrics as JSON (docs/metrics.md)\n"
    "  --csv-out FILE      the same metrics appended as one CSV row (header when FILE is new)\n"
    "  --trace FILE        the build's timeline as Chrome trace-event JSON (Perfetto,\n"
    "                      chrome://tracing); `zbuild report FILE -o report.html` draws it\n"
    "  --keep-going        keep building what does not depend on a failed task\n"
    "  --require-sandbox   run tasks only on workers that run them in a sandbox (workers\n"
    "                      started with --sandbox none are shown as unsandboxed by `zbuild status`)\n"
    "  --wait-daemon SECONDS  wait this long for the daemon to answer (and resubmit after a\n"
    "                      daemon restart)\n"
    "  --local-slots N     when a task's program is allowed by no connected worker (e.g. a\n"
    "                      test run through sh), run such tasks here, N at a time, in the same\n"
    "                      sandbox as a worker's (default 1; 0: never; not with CurveZMQ keys)\n"
    "  --keep-root-paths   compile without -ffile-prefix-map=ROOT=. (added by default: objects\n"
    "                      and cache keys are then the same in every checkout) and key every\n"
    "                      task by the root: objects byte-identical to a build in place\n"
    "  --quiet             no progress lines\n"
    "  --curve-key FILE    this client's secret key, for a daemon with CurveZMQ keys\n"
    "                      ($ZBUILD_CURVE_KEY); with --daemon-key\n"
    "  --daemon-key FILE   the daemon's public key ($ZBUILD_DAEMON_KEY)\n";

const CommandSpec& submit_spec() {
  static const CommandSpec spec{"submit", kSubmitHelp};
  return spec;
}

int cmd_submit(int argc, char** argv) {
  int exit = 0;
  auto args = read_command_line(submit_spec(), argc, argv, 2, &exit);
  if (!args) return exit;
  if (args->positional.size() != 1) return usage_error(submit_spec(), "expected one GRAPH file");
  client::SubmitOptions o;
  o.daemon = daemon_address(args->get("--daemon"));
  o.graph = args->positional[0];
  o.metrics_out = args->get("--metrics-out");
  o.csv_out = args->get("--csv-out");
  o.trace_out = args->get("--trace");
  o.keep_going = args->has("--keep-going");
  o.require_sandbox = args->has("--require-sandbox");
  o.keep_root_paths = args->has("--keep-root-paths");
  o.quiet = args->has("--quiet");
  o.curve_key = args->get("--curve-key");
  o.daemon_key = args->get("--daemon-key");
  if (args->values.count("--local-slots")) {
    auto v = to_int("--local-slots", args->get("--local-slots"));
    if (!v.ok() || v.value() < 0 || v.value() > 256) {
      std::fprintf(stderr, "zbuild submit: --local-slots takes a number from 0 to 256\n");
      return 2;
    }
    o.local_slots = v.value();
  }
  if (args->values.count("--wait-daemon")) {
    auto v = to_int("--wait-daemon", args->get("--wait-daemon"));
    if (!v.ok() || v.value() < 0) {
      std::fprintf(stderr, "zbuild submit: --wait-daemon takes a number of seconds\n");
      return 2;
    }
    o.wait_daemon_s = v.value();
  }
  return client::run_submit(o);
}

}  // namespace zbuild::cli
