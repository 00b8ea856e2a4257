#include "greet.h"

#include <cctype>
#include <numeric>

namespace greet {

std::vector<std::string> greetings(const std::vector<std::string_view>& names) {
  std::vector<std::string> out;
  out.reserve(names.size());
  for (std::string_view n : names) out.push_back("hello, " + std::string(n));
  return out;
}

std::size_t letters(const std::vector<std::string_view>& names) {
  return std::accumulate(names.begin(), names.end(), std::size_t{0}, [](std::size_t sum, std::string_view n) {
    for (char c : n) sum += std::isalpha(static_cast<unsigned char>(c)) ? 1 : 0;
    return sum;
  });
}

}  // namespace greet
