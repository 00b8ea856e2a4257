#include "client/headers.h"

#include <algorithm>
#include <sstream>

#include "common/command_policy.h"

namespace zbuild::client {

bool is_scannable_compile(const std::vector<std::string>& argv) {
  return cmd::compiles_object(argv);
}

std::vector<std::string> scan_argv(const std::vector<std::string>& argv, bool missing_as_generated) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-o" || a == "-MF" || a == "-MT" || a == "-MQ") {
      ++i;
      continue;
    }
    if (a == "-c" || a == "-MD" || a == "-MMD" || a == "-MP" || a == "-M" || a == "-MM") continue;
    if ((a.rfind("-o", 0) == 0 && a.size() > 2) || a.rfind("-MF", 0) == 0 || a.rfind("-MT", 0) == 0 ||
        a.rfind("-MQ", 0) == 0) {
      continue;
    }
    out.push_back(a);
  }
  out.push_back("-M");
  if (missing_as_generated) out.push_back("-MG");
  return out;
}

Result<std::vector<std::string>> checked_scan_compile(const std::vector<std::string>& argv, const std::string& cwd) {
  if (argv.empty() || !cmd::is_c_compiler(argv[0])) return std::vector<std::string>{};
  auto expanded = cmd::expand_response_files(argv, cwd);
  if (!expanded.ok()) return expanded.error();
  if (!is_scannable_compile(expanded.value())) return std::vector<std::string>{};
  ZB_TRY(cmd::check_compiler_options(expanded.value()));
  return std::move(expanded).value();
}

Result<std::vector<std::string>> scan_environment(const std::vector<std::string>& task_env) {
  ZB_TRY(cmd::check_env(task_env));
  std::vector<std::string> env;
  env.reserve(task_env.size() + 1);
  env.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  for (const auto& e : task_env) env.push_back(e);
  return env;
}

Result<Digest> DigestMemo::get(const std::filesystem::path& p) {
  std::string key = p.string();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
  }
  auto d = digest_file(p);
  std::lock_guard<std::mutex> lock(mu_);
  memo_.emplace(key, d);
  return d;
}

std::string encode_manifest(const std::vector<HeaderSet>& sets) {
  std::string out = "zbuild-manifest 2\n";
  for (auto& set : sets) {
    out += "S\n";
    for (auto& e : set) {
      out.push_back(e.kind);
      out.push_back(' ');
      if (e.kind != 'G') {
        out += e.digest.str();
        out.push_back(' ');
      }
      out += e.path;
      out.push_back('\n');
    }
  }
  return out;
}

Result<std::vector<HeaderSet>> decode_manifest(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || (line != "zbuild-manifest 1" && line != "zbuild-manifest 2")) {
    return make_error("manifest: unknown format");
  }
  const bool v1 = line == "zbuild-manifest 1";
  std::vector<HeaderSet> sets;
  if (v1) sets.emplace_back();   // version 1: one set, no S lines
  while (std::getline(in, line)) {
    if (!v1 && line == "S") {
      if (sets.size() == kManifestSets) return make_error("manifest: more than " + std::to_string(kManifestSets) + " sets");
      sets.emplace_back();
      continue;
    }
    if (line.size() < 3 || line[1] != ' ') return make_error("manifest: malformed line");
    if (sets.empty()) return make_error("manifest: an entry before the first set");
    HeaderEntry e;
    e.kind = line[0];
    if (e.kind == 'G') {
      e.path = line.substr(2);
    } else if (e.kind == 'R' || e.kind == 'H') {
      auto sp = line.find(' ', 2);
      if (sp == std::string::npos) return make_error("manifest: malformed line");
      auto d = Digest::parse(line.substr(2, sp - 2));
      if (!d.ok()) return d.error();
      e.digest = d.value();
      e.path = line.substr(sp + 1);
    } else {
      return make_error("manifest: unknown entry kind");
    }
    if (e.path.empty()) return make_error("manifest: empty path");
    sets.back().push_back(std::move(e));
  }
  return sets;
}

std::vector<HeaderSet> add_header_set(HeaderSet fresh, const std::vector<HeaderSet>& known) {
  std::vector<HeaderSet> out{std::move(fresh)};
  for (const auto& set : known) {
    if (out.size() == kManifestSets) break;
    if (set != out.front()) out.push_back(set);
  }
  return out;
}

}  // namespace zbuild::client
