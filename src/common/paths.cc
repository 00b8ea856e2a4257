#include "common/paths.h"

#include <cstdlib>

#include <vector>

namespace zbuild {

Result<std::string> normalize_relative(std::string_view path, std::string_view what) {
  if (path.empty()) return make_error(std::string(what) + ": empty path");
  if (path.front() == '/') {
    return make_error(std::string(what) + ": absolute path '" + std::string(path) + "' is not allowed here");
  }
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == ".") {
      // skip
    } else if (part == "..") {
      if (parts.empty()) {
        return make_error(std::string(what) + ": path '" + std::string(path) + "' climbs out of the root");
      }
      parts.pop_back();
    } else {
      parts.push_back(part);
    }
    i = j + 1;
  }
  if (parts.empty()) return std::string(".");
  std::string out;
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k) out += '/';
    out += parts[k];
  }
  return out;
}

bool is_normal_absolute(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  if (p.size() == 1) return true;
  if (p.back() == '/') return false;
  for (size_t i = 0; i < p.size();) {   // p[i] is a '/'
    size_t j = p.find('/', i + 1);
    if (j == std::string_view::npos) j = p.size();
    std::string_view c = p.substr(i + 1, j - i - 1);
    if (c.empty() || c == "." || c == "..") return false;
    i = j;
  }
  return true;
}

bool is_under(std::string_view root_text, std::string_view path) {
  // Most callers pass paths already normal: compared as they are, with no std::filesystem::path
  // made (one splits its text into parts when made); a path is normalised per call otherwise.
  std::string root_normal, path_normal;
  std::string_view r = root_text, s = path;
  if (!is_normal_absolute(r)) r = root_normal = std::filesystem::path(r).lexically_normal().string();
  if (!is_normal_absolute(s)) s = path_normal = std::filesystem::path(s).lexically_normal().string();
  while (r.size() > 1 && r.back() == '/') r.remove_suffix(1);
  if (s == r) return true;
  if (r == "/") return true;
  return s.size() > r.size() && s.compare(0, r.size(), r) == 0 && s[r.size()] == '/';
}

Result<std::string> relative_to_root(const std::filesystem::path& root, std::string_view base_rel,
                                     std::string_view path, std::string_view what) {
  std::filesystem::path p(path);
  if (p.is_absolute()) {
    auto n = p.lexically_normal();
    if (!is_under(root, n)) {
      return make_error(std::string(what) + ": path '" + std::string(path) + "' is outside the root " +
                        root.string());
    }
    auto rel = n.lexically_relative(root.lexically_normal()).string();
    if (rel.empty()) rel = ".";
    return normalize_relative(rel, what);
  }
  std::string joined = (base_rel.empty() || base_rel == ".") ? std::string(path)
                                                             : std::string(base_rel) + "/" + std::string(path);
  return normalize_relative(joined, what);
}

std::string user_cache_path(std::string_view name) {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/zbuild/" + std::string(name);
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/zbuild/" + std::string(name);
  return {};
}

}  // namespace zbuild
