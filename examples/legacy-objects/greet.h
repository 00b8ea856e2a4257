// The legacy-objects example's one library header (greet.cc defines it, main.cc uses it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace greet {

// "hello, NAME" for each name, in order.
std::vector<std::string> greetings(const std::vector<std::string_view>& names);

// Total number of letters in `names`.
std::size_t letters(const std::vector<std::string_view>& names);

}  // namespace greet
