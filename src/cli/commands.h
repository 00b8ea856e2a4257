// One function per subcommand, each in its own file.
#pragma once

#include <string>

#include "cli/args.h"

namespace zbuild::cli {

// A command's help text and the options its parser accepts, side by side so that a test
// (help_test.cc) can check that every accepted option is described in the help.
struct CommandSpec {
  const char* name;   // "daemon", ..., or the program ("zbuild-worker")
  const char* help;
  ArgSpec args;
};
const CommandSpec& daemon_spec();
const CommandSpec& submit_spec();
const CommandSpec& status_spec();
const CommandSpec& graph_spec();
const CommandSpec& report_spec();
const CommandSpec& keygen_spec();
const CommandSpec& worker_spec();   // worker_spec.cc

int cmd_daemon(int argc, char** argv);
int cmd_submit(int argc, char** argv);
int cmd_status(int argc, char** argv);
int cmd_graph(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_keygen(int argc, char** argv);

// --daemon value, else $ZBUILD_DAEMON, else the default address.
std::string daemon_address(const std::string& flag);

}  // namespace zbuild::cli
