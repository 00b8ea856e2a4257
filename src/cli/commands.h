// One function per subcommand, each in its own file.
#pragma once

#include <optional>
#include <string>

#include "cli/args.h"

namespace zbuild::worker {
struct WorkerOptions;
}

namespace zbuild::cli {

// A command's help text, where each of its options is defined once (options_in_help), and
// the parser's view of those options. help_test.cc checks that every option the command's
// code looks up is one its help defines.
struct CommandSpec {
  CommandSpec(const char* name_, const char* help_) : name(name_), help(help_), args(options_in_help(help_)) {}
  const char* name;   // "daemon", ..., or the program ("zbuild-worker")
  const char* help;
  ArgSpec args;
};
// The command line read against `spec` (from argv[first]); nullopt when the command is to end
// at once, with `*exit` set: 0 after printing --help, 2 after a usage error (printed with the help).
std::optional<Args> read_command_line(const CommandSpec& spec, int argc, char** argv, int first, int* exit);
// Prints "PROGRAM: MESSAGE" and the help on stderr; returns 2.
int usage_error(const CommandSpec& spec, const std::string& message);

const CommandSpec& daemon_spec();
const CommandSpec& submit_spec();
const CommandSpec& status_spec();
const CommandSpec& graph_spec();
const CommandSpec& report_spec();
const CommandSpec& keygen_spec();
const CommandSpec& scan_spec();
const CommandSpec& worker_spec();   // worker_spec.cc
// zbuild-worker's options read from `args` (read against worker_spec()) into `o`; 0, or 2 after
// printing what is wrong. Shared by zbuild-worker and the daemon's --local-worker-args.
int worker_options(const Args& args, worker::WorkerOptions& o);

int cmd_daemon(int argc, char** argv);
int cmd_submit(int argc, char** argv);
int cmd_status(int argc, char** argv);
int cmd_graph(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_keygen(int argc, char** argv);
int cmd_scan(int argc, char** argv);

// --daemon value, else $ZBUILD_DAEMON, else the default address.
std::string daemon_address(const std::string& flag);

}  // namespace zbuild::cli
