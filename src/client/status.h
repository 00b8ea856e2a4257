// `zbuild status`: asks the daemon for its status document and prints it.
#pragma once

#include <string>

namespace zbuild::client {

int run_status(const std::string& daemon, bool json);

// Number of workers in a status document; -1 when it cannot be read.
int worker_count(const std::string& status_json);

}  // namespace zbuild::client
