// `zbuild status`: asks the daemon for its status document and prints it.
#pragma once

#include <string>

namespace zbuild::client {

int run_status(const std::string& daemon, bool json, const std::string& curve_key = "",
               const std::string& daemon_key = "");

// Number of workers in a status document; -1 when it cannot be read.
int worker_count(const std::string& status_json);

}  // namespace zbuild::client
