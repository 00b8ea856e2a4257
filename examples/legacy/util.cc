#include "util.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace legacy {

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  for (char raw : text) {
    const unsigned char c = static_cast<unsigned char>(raw);
    if (std::isalpha(c) || (c == '\'' && !current.empty())) {
      current += static_cast<char>(std::tolower(c));
    } else if (!current.empty()) {
      out.push_back(current);
      current.clear();
    }
  }
  if (!current.empty()) out.push_back(current);
  return out;
}

std::vector<std::pair<std::string, std::size_t>> top_words(const std::vector<std::string>& words,
                                                          std::size_t limit) {
  std::map<std::string, std::size_t> counts;
  for (const auto& w : words) ++counts[w];
  std::vector<std::pair<std::string, std::size_t>> ranked(counts.begin(), counts.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (ranked.size() > limit) ranked.resize(limit);
  return ranked;
}

std::size_t line_count(const std::string& text) {
  std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  if (!text.empty() && text.back() != '\n') ++lines;
  return lines;
}

}  // namespace legacy
