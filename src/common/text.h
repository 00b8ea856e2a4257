// Text from peers, graphs and files is hostile until checked: printable() makes it safe for a
// terminal or a log line (control characters, including the bidirectional overrides such as
// U+202E, and invalid UTF-8 become visible escapes).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace zbuild {

std::string printable(std::string_view s);

// The pieces of `s` between occurrences of `sep`, empty ones included ("a,,b," gives "a", "",
// "b", ""; "" gives one empty piece).
std::vector<std::string_view> split(std::string_view s, char sep);

}  // namespace zbuild
