// Text from peers, graphs and files is hostile until checked: printable() makes it safe for a
// terminal or a log line (control characters, including the bidirectional overrides such as
// U+202E, and invalid UTF-8 become visible escapes).
#pragma once

#include <string>
#include <string_view>

namespace zbuild {

std::string printable(std::string_view s);

}  // namespace zbuild
