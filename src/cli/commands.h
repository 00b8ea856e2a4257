// One function per subcommand, each in its own file.
#pragma once

#include <string>

namespace zbuild::cli {

int cmd_daemon(int argc, char** argv);
int cmd_submit(int argc, char** argv);
int cmd_status(int argc, char** argv);
int cmd_graph(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_keygen(int argc, char** argv);

// --daemon value, else $ZBUILD_DAEMON, else the default address.
std::string daemon_address(const std::string& flag);

}  // namespace zbuild::cli
