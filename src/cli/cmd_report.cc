// zbuild report
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "client/report.h"

namespace zbuild::cli {

static const char* kReportHelp =
    "usage: zbuild report TRACE -o REPORT.html\n"
    "\n"
    "Turns a trace written by `zbuild submit --trace TRACE` into one self-contained HTML page:\n"
    "a Gantt chart with a row per worker slot (one bar per task), the critical path\n"
    "highlighted, the schedule against its lower bound, and the build's metrics. The page\n"
    "loads nothing from elsewhere. The trace itself opens in Perfetto or chrome://tracing.\n"
    "\n"
    "  -o, --output FILE  where to write the page\n";

const CommandSpec& report_spec() {
  static const CommandSpec spec{"report", kReportHelp};
  return spec;
}

int cmd_report(int argc, char** argv) {
  int exit = 0;
  auto args = read_command_line(report_spec(), argc, argv, 2, &exit);
  if (!args) return exit;
  std::string out = args->get("-o", args->get("--output"));
  if (args->positional.size() != 1 || out.empty()) return usage_error(report_spec(), "expected one TRACE file and -o REPORT.html");
  return client::run_report(args->positional[0], out);
}

}  // namespace zbuild::cli
