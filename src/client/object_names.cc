#include "client/object_names.h"

#include <algorithm>
#include <filesystem>

#include "common/command_policy.h"
#include "runner/cmdline.h"

namespace zbuild::client {

namespace fs = std::filesystem;

std::optional<std::string> name_object_by_command(ActionSpec& a, const std::string& declared,
                                                  const std::set<std::string>& taken) {
  if (a.argv.size() < 2 || !cmd::is_c_compiler(a.argv[0]) || !cmd::compiles_object(a.argv)) return std::nullopt;
  // A response file's contents are not in argv: the name could not follow them.
  if (std::any_of(a.argv.begin() + 1, a.argv.end(), [](const std::string& s) { return !s.empty() && s[0] == '@'; }))
    return std::nullopt;
  const fs::path root(a.root);
  auto an = runner::analyze(a.argv, (root / a.cwd).lexically_normal().string());
  if (!an.remote) return std::nullopt;
  fs::path obj = fs::path(an.compile.object).is_absolute()
                     ? fs::path(an.compile.object).lexically_normal().lexically_relative(root)
                     : (fs::path(a.cwd) / an.compile.object).lexically_normal();
  if (obj.string() != declared) return std::nullopt;
  auto named = an.compile.object_name(false, "zbuild-object-", a.root, a.cwd);
  if (!named) return std::nullopt;
  const std::string& name = *named;
  const std::string as = (fs::path(a.cwd) / name).lexically_normal().string();
  if (taken.count(as)) return std::nullopt;
  auto argv = an.compile.remote_argv_as(false, name);
  if (!argv) return std::nullopt;
  a.argv = std::move(*argv);
  a.outputs = {as};
  return as;
}

void name_produced_inputs(std::vector<ActionSpec>& actions, const std::vector<std::string>& object_as) {
  for (auto& a : actions) {
    for (auto& in : a.inputs) {
      if (in.producer && in.producer <= object_as.size() && !object_as[in.producer - 1].empty())
        in.produced_as = object_as[in.producer - 1];
    }
  }
}

}  // namespace zbuild::client
