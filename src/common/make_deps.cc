#include "common/make_deps.h"

namespace zbuild {

std::vector<std::string> parse_make_deps(const std::string& text) {
  std::vector<std::string> deps;
  std::string cur;
  bool after_colon = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      char n = text[i + 1];
      if (n == '\n') { ++i; goto sep; }
      if (n == '\r' && i + 2 < text.size() && text[i + 2] == '\n') { i += 2; goto sep; }
      if (n == ' ' || n == '#' || n == '\\') { cur.push_back(n); ++i; continue; }
      cur.push_back(c);
      continue;
    }
    if (c == '$' && i + 1 < text.size() && text[i + 1] == '$') { cur.push_back('$'); ++i; continue; }
    if (c == ':' && !after_colon && (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\n' || text[i + 1] == '\\')) {
      after_colon = true;
      cur.clear();
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') goto sep;
    cur.push_back(c);
    continue;
  sep:
    if (after_colon && !cur.empty()) deps.push_back(cur);
    cur.clear();
  }
  if (after_colon && !cur.empty()) deps.push_back(cur);
  return deps;
}

std::string make_quote(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == ' ' || c == '\t' || c == '#') out.push_back('\\');
    if (c == '$') out.push_back('$');
    out.push_back(c);
  }
  return out;
}

std::string make_deps_rule(const std::vector<std::string>& targets, const std::vector<std::string>& prereqs, bool phony) {
  // gcc's layout: a name that would pass column 72 starts a continuation line.
  constexpr size_t kColumns = 72;
  std::string out;
  size_t col = 0;
  auto word = [&](const std::string& w) {
    if (col > 0) {
      if (col + w.size() > kColumns) {
        out += " \\\n";
        col = 0;
      }
      ++col;
      out += ' ';
    }
    out += w;
    col += w.size();
  };
  for (auto& t : targets) word(t);
  out += ':';
  ++col;
  for (auto& p : prereqs) word(make_quote(p));
  out += '\n';
  if (phony) {
    for (size_t i = 1; i < prereqs.size(); ++i) out += make_quote(prereqs[i]) + ":\n";
  }
  return out;
}

}  // namespace zbuild
