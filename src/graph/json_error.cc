#include "graph/json_error.h"

#include <algorithm>

namespace zbuild::graph {

namespace {

// LINE:COL of the offending byte. nlohmann counts the bytes read, so it is at index byte - 1.
std::string place(const std::string& text, size_t byte) {
  size_t pos = byte == 0 ? 0 : std::min(byte - 1, text.size());
  size_t line = 1;
  size_t line_start = 0;
  for (size_t k = 0; k < pos; ++k) {
    if (text[k] == '\n') {
      ++line;
      line_start = k + 1;
    }
  }
  return std::to_string(line) + ":" + std::to_string(pos - line_start + 1);
}

// "[json.exception.parse_error.101] parse error at line 3, column 4: syntax error ..." loses
// its exception tag and its own (less exact) place: "syntax error ...".
std::string reason(const std::string& what) {
  std::string s = what;
  auto close = s.find("] ");
  if (!s.empty() && s[0] == '[' && close != std::string::npos) s = s.substr(close + 2);
  auto at = s.find(" at line ");
  auto colon = s.find(": ", at == std::string::npos ? 0 : at);
  if (s.rfind("parse error", 0) == 0 && colon != std::string::npos) s = s.substr(colon + 2);
  return s;
}

}  // namespace

std::string json_parse_error(const std::string& source_name, const std::string& text, size_t byte,
                             const std::string& what) {
  return source_name + ":" + place(text, byte) + ": invalid JSON: " + reason(what);
}

}  // namespace zbuild::graph
