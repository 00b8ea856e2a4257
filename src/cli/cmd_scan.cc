// zbuild scan
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/args.h"
#include "cli/commands.h"
#include "client/headers.h"
#include "common/clock.h"
#include "common/command_policy.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/make_deps.h"
#include "common/subprocess.h"
#include "common/text.h"
#include "graph/import.h"
#include "scan/compiler_facts.h"
#include "scan/include_scan.h"

namespace zbuild::cli {

namespace fs = std::filesystem;

static const char* kScanHelp =
    "usage: zbuild scan --compdb compile_commands.json [--compare] [--list]\n"
    "\n"
    "Runs zbuild's in-process include scanner (docs/scanner.md) on every compile of a\n"
    "compilation database and says what it found: the files each compile reads, which is the\n"
    "part of its cache key that headers make up. Exits 1 when --compare finds a compile that\n"
    "reads a file the scanner missed.\n"
    "\n"
    "  --compdb FILE  the compilation database (CMake: -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)\n"
    "  --compare      also run each compile's preprocessor (-M) and compare: identical, a superset\n"
    "                 (files the compile may read on a branch the scanner could not decide), or\n"
    "                 missing files (a scanner bug: please report it)\n"
    "  --list         print the files each compile reads\n";

const CommandSpec& scan_spec() {
  static const CommandSpec spec{"scan", kScanHelp};
  return spec;
}

namespace {

std::string normal(const std::string& cwd, const std::string& p) {
  return (p.empty() || p[0] != '/' ? fs::path(cwd) / p : fs::path(p)).lexically_normal().string();
}

// The compiler's own answer: the compile with its outputs and dependency options replaced by -M
// (missing headers are errors here, not generated files: they are not in the scanner's answer).
Result<std::set<std::string>> compiler_deps(const std::vector<std::string>& argv, const std::string& cwd) {
  ProcessSpec ps;
  ps.cwd = cwd;
  ps.argv = client::scan_argv(argv, /*missing_as_generated=*/false);
  ps.argv.insert(ps.argv.end(), {"-MF", "/dev/stdout"});
  auto r = run_process(ps);
  if (!r.ok()) return r.error();
  if (r.value().exit_code != 0) return Error{"the compiler's -M failed: " + r.value().err.substr(0, 300)};
  std::set<std::string> out;
  for (auto& d : parse_make_deps(r.value().out)) out.insert(normal(cwd, d));
  return out;
}

}  // namespace

int cmd_scan(int argc, char** argv) {
  int exit = 0;
  auto args = read_command_line(scan_spec(), argc, argv, 2, &exit);
  if (!args) return exit;
  std::string db = args->get("--compdb");
  if (db.empty()) return usage_error(scan_spec(), "--compdb is required");
  bool compare = args->has("--compare"), list = args->has("--list");
  auto text = read_file(db);
  if (!text.ok()) {
    std::fprintf(stderr, "zbuild scan: %s\n", printable(text.error().message).c_str());
    return 1;
  }
  nlohmann::json j = nlohmann::json::parse(text.value(), nullptr, false);
  if (!j.is_array()) {
    std::fprintf(stderr, "zbuild scan: %s: not a JSON array of compile commands\n", printable(db).c_str());
    return 1;
  }
  std::string cache = scan::facts_cache_dir();
  scan::DiskFiles files(cache);   // one file cache for the whole database, as zbuild submit keeps
  size_t n = 0, scanned = 0, identical = 0, superset = 0, missing = 0, files_found = 0;
  std::map<std::string, size_t> gave_up;
  int64_t scan_us = 0, facts_us = 0;
  for (size_t e = 0; e < j.size(); ++e) {
    const auto& entry = j[e];
    std::string where = db + ": entry " + std::to_string(e);
    if (!entry.is_object() || !entry.contains("directory") || !entry["directory"].is_string()) {
      std::fprintf(stderr, "zbuild scan: %s: no \"directory\"\n", printable(where).c_str());
      return 1;
    }
    std::string cwd = entry["directory"].get<std::string>();
    std::vector<std::string> cmdline;
    if (entry.contains("arguments") && entry["arguments"].is_array()) {
      for (auto& a : entry["arguments"]) {
        if (a.is_string()) cmdline.push_back(a.get<std::string>());
      }
    } else if (entry.contains("command") && entry["command"].is_string()) {
      auto split = graph::split_command(entry["command"].get<std::string>());
      if (!split.ok()) {
        std::fprintf(stderr, "zbuild scan: %s: %s\n", printable(where).c_str(), printable(split.error().message).c_str());
        return 1;
      }
      cmdline = std::move(split.value());
    }
    if (cmdline.empty() || !cmd::is_c_compiler(cmdline[0])) continue;
    auto expanded = cmd::expand_response_files(cmdline, cwd);
    if (!expanded.ok()) continue;
    ++n;
    auto o = scan::scan_options(expanded.value());
    std::string why = o.unsupported;
    std::vector<std::string> found;
    if (why.empty()) {
      std::string compiler = o.probe_argv[0].find('/') == std::string::npos ? find_in_path(o.probe_argv[0]) : o.probe_argv[0];
      auto id = compiler.empty() ? Result<Digest>(Error{"compiler not found"}) : digest_file(normal(cwd, compiler));
      int64_t t0 = mono_us();
      auto facts = id.ok() ? scan::compiler_facts(o, cwd, id.value().str(), cache) : Result<scan::CompilerFacts>(id.error());
      int64_t t1 = mono_us();
      facts_us += t1 - t0;
      if (!facts.ok()) {
        why = facts.error().message;
      } else {
        auto r = scan::scan_includes(scan::scan_request(o, std::move(facts.value()), cwd), files);
        scan_us += mono_us() - t1;
        why = r.gave_up;
        for (auto& f : r.files) found.push_back(f.path);
      }
    }
    std::string file = entry.contains("file") && entry["file"].is_string() ? entry["file"].get<std::string>() : o.source;
    if (!why.empty()) {
      gave_up[why.substr(0, why.find(':'))]++;
      std::printf("%s: the scanner gave up: %s\n", printable(file).c_str(), printable(why).c_str());
      continue;
    }
    ++scanned;
    files_found += found.size();
    if (list) {
      std::printf("%s:\n", printable(file).c_str());
      for (auto& f : found) std::printf("  %s\n", printable(f).c_str());
    }
    if (!compare) continue;
    auto want = compiler_deps(expanded.value(), cwd);
    if (!want.ok()) {
      std::printf("%s: %s\n", printable(file).c_str(), printable(want.error().message).c_str());
      continue;
    }
    std::set<std::string> got;
    for (auto& f : found) got.insert(normal(cwd, f));
    std::vector<std::string> lacks, extra;
    for (auto& w : want.value())
      if (!got.count(w)) lacks.push_back(w);
    for (auto& g : got)
      if (!want.value().count(g)) extra.push_back(g);
    if (!lacks.empty()) {
      ++missing;
      std::printf("%s: MISSING %zu file(s) the compiler reads, first %s\n", printable(file).c_str(), lacks.size(),
                  printable(lacks[0]).c_str());
    } else if (!extra.empty()) {
      ++superset;
      std::printf("%s: %zu file(s) more than the compiler reads, first %s\n", printable(file).c_str(), extra.size(),
                  printable(extra[0]).c_str());
    } else {
      ++identical;
    }
  }
  std::printf("zbuild scan: %zu compiles: %zu scanned (%zu files, %.2f ms per compile; asking the compiler %.1f ms in all; "
              "%llu headers lexed, %llu from the scan cache), %zu gave up",
              n, scanned, files_found, scanned ? static_cast<double>(scan_us) / 1000.0 / static_cast<double>(scanned) : 0.0,
              static_cast<double>(facts_us) / 1000.0, static_cast<unsigned long long>(files.lexed()),
              static_cast<unsigned long long>(files.from_cache()), n - scanned);
  for (auto& [why, count] : gave_up) std::printf(" [%zu: %s]", count, printable(why).c_str());
  if (compare) std::printf("; against -M: %zu identical, %zu superset, %zu missing files", identical, superset, missing);
  std::printf("\n");
  return missing ? 1 : 0;
}

}  // namespace zbuild::cli
