// Daemon addresses. One HOST:PORT names a daemon: PORT is the ventilator (workers),
// PORT+1 the sink (results), PORT+2 the client endpoint.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace zbuild {

constexpr const char* kDefaultDaemon = "127.0.0.1:7600";

struct Address {
  std::string host;
  int port = 0;

  std::string ventilator() const { return endpoint(0); }
  std::string sink() const { return endpoint(1); }
  std::string client() const { return endpoint(2); }
  std::string endpoint(int offset) const;
  std::string str() const { return host + ":" + std::to_string(port); }
  bool is_loopback() const;
};

Result<Address> parse_address(std::string_view text);

// --daemon value if given, else $ZBUILD_DAEMON, else the default.
std::string daemon_address_from(const std::string& flag_value);

}  // namespace zbuild
