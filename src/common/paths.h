// Path rules shared by client, daemon and worker. Paths inside an action are relative to the
// exec root, normalised ("a/./b/../c" -> "a/c"), and never absolute or climbing out with "..".
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/result.h"

namespace zbuild {

// Normalises a relative path lexically. Fails when the path is empty, absolute, or climbs
// above its base. `what` names the path in the error ("task obj/a.o: input").
Result<std::string> normalize_relative(std::string_view path, std::string_view what);

// Makes `path` (absolute, or relative to `base_rel` under `root`) relative to `root`.
// Fails when it lands outside `root`.
Result<std::string> relative_to_root(const std::filesystem::path& root, std::string_view base_rel,
                                     std::string_view path, std::string_view what);

// True when `p` (absolute, lexically normal) is `root` or lies below it.
bool is_under(std::string_view root, std::string_view p);
// The same for arguments of which at least one is a std::filesystem::path.
inline std::string_view path_text(const std::filesystem::path& p) { return p.native(); }
inline std::string_view path_text(std::string_view p) { return p; }
inline std::string_view path_text(const std::string& p) { return p; }
template <class A, class B>
  requires(std::is_same_v<A, std::filesystem::path> || std::is_same_v<B, std::filesystem::path>)
bool is_under(const A& root, const B& p) {
  return is_under(path_text(root), path_text(p));
}
// An absolute path that lexically_normal() leaves as it is: no empty, "." or ".." component
// and no trailing slash (but "/" itself). Cheap: callers skip normalising such a path.
bool is_normal_absolute(std::string_view p);

// `name` in this user's zbuild cache folder: $XDG_CACHE_HOME/zbuild/NAME, else
// ~/.cache/zbuild/NAME; empty when neither variable is set.
std::string user_cache_path(std::string_view name);

}  // namespace zbuild
