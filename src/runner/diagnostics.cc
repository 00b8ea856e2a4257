#include "runner/diagnostics.h"

#include <algorithm>

namespace zbuild::runner {

namespace {

// Characters that end a path in compiler messages.
bool ends_path(char c) {
  return c == ':' || c == ',' || c == ' ' || c == '\n' || c == '\t' || c == '\'' || c == '"' || c == ')' ||
         c == '\x1b' || static_cast<unsigned char>(c) == 0xe2;   // 0xe2: start of a UTF-8 quote
}

// Characters that start a token before a path (whitespace and quotes).
bool starts_token(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\'' || c == '"' || c == '(' || c == '`'; }

}  // namespace

std::string find_sandbox_prefix(const std::string& text, const std::string& root,
                                const std::vector<std::string>& rel_paths, const std::vector<std::string>& host_paths) {
  // Longest first: "/src/a.c" must win over "/a.c" inside "/sandbox/src/a.c".
  std::vector<std::string> rels(rel_paths);
  std::sort(rels.begin(), rels.end(), [](auto& a, auto& b) { return a.size() > b.size(); });
  for (const auto& rel : rels) {
    if (rel.empty() || rel == ".") continue;
    std::string needle = "/" + rel;
    for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
      size_t end = pos + needle.size();
      if (end < text.size() && !ends_path(text[end])) continue;
      size_t start = pos;
      while (start > 0 && !starts_token(text[start - 1])) --start;
      // Escape sequences and UTF-8 quotes before the path contain no '/': skip to the first one.
      size_t slash = text.find('/', start);
      if (slash >= pos) continue;
      std::string prefix = text.substr(slash, pos - slash);
      if (prefix == root || prefix.find('\x1b') != std::string::npos) continue;
      bool host_dir = std::any_of(host_paths.begin(), host_paths.end(), [&](const std::string& h) {
        return h.size() > prefix.size() && h.compare(0, prefix.size(), prefix) == 0 && h[prefix.size()] == '/';
      });
      if (!host_dir) return prefix;
    }
  }
  return {};
}

std::string replace_prefix(const std::string& text, const std::string& prefix, const std::string& root) {
  if (prefix.empty()) return text;
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  for (size_t pos = text.find(prefix); pos != std::string::npos; pos = text.find(prefix, i)) {
    size_t end = pos + prefix.size();
    out.append(text, i, pos - i);
    bool boundary = end == text.size() || text[end] == '/' || ends_path(text[end]);
    out.append(boundary ? root : prefix);
    i = end;
  }
  out.append(text, i, std::string::npos);
  return out;
}

}  // namespace zbuild::runner
