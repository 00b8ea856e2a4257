// `zbuild status`: asks the daemon for its status document and prints it.
#pragma once

#include <string>

namespace zbuild::client {

int run_status(const std::string& daemon, bool json);

}  // namespace zbuild::client
