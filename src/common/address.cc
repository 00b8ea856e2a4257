#include "common/address.h"

#include <charconv>
#include <cstdlib>

namespace zbuild {

std::string Address::endpoint(int offset) const {
  return "tcp://" + host + ":" + std::to_string(port + offset);
}

bool Address::is_loopback() const {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

Result<Address> parse_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return make_error("address '" + std::string(text) + "' is not HOST:PORT");
  }
  Address a;
  a.host = std::string(text.substr(0, colon));
  auto ps = text.substr(colon + 1);
  auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), a.port);
  if (ec != std::errc() || p != ps.data() + ps.size() || a.port <= 0 || a.port > 65533) {
    return make_error("address '" + std::string(text) + "': bad port (1..65533, uses PORT..PORT+2)");
  }
  return a;
}

std::string daemon_address_from(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("ZBUILD_DAEMON"); env && *env) return env;
  return kDefaultDaemon;
}

}  // namespace zbuild
