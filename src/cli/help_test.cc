// Each command's options are defined by its --help (options_in_help); every option its code
// looks up must be one of them. zbuild-cc has no options; every ZBUILD_* variable its sources
// read must be named in its help instead.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "runner/runner.h"

using namespace zbuild::cli;

namespace {

std::vector<const CommandSpec*> all_specs() {
  return {&daemon_spec(), &submit_spec(), &status_spec(), &graph_spec(), &report_spec(), &keygen_spec(), &scan_spec(), &worker_spec()};
}

}  // namespace

TEST_CASE("options are read from their help lines: names, value or flag") {
  auto spec = options_in_help("usage: x [--a N]\n\ntext --b here\n  --c N      c\n  -o, --output FILE  o\n"
                              "  --d=auto|x  d\n  --e F described after one blank\n  --flag     f\n"
                              "                       --g in a continuation\n");
  CHECK(spec.with_value == std::set<std::string>{"--c", "-o", "--output", "--d", "--e"});
  CHECK(spec.flags == std::set<std::string>{"--flag"});
}

TEST_CASE("every option a command's code looks up is defined in its --help") {
  // The option names each command's source reads (get, has, multi, values.count).
  std::regex lookup_re(R"re((?:get|has|multi|values\.count)\("(-[-a-z]+)")re");
  std::map<std::string, const CommandSpec*> file_spec = {
      {"cmd_daemon.cc", &daemon_spec()}, {"cmd_submit.cc", &submit_spec()}, {"cmd_status.cc", &status_spec()},
      {"cmd_graph.cc", &graph_spec()},   {"cmd_report.cc", &report_spec()}, {"cmd_keygen.cc", &keygen_spec()}, {"cmd_scan.cc", &scan_spec()},
      {"worker_spec.cc", &worker_spec()}};
  size_t seen = 0;
  for (const auto& [file, spec] : file_spec) {
    std::ifstream f(std::filesystem::path(ZBUILD_SOURCE_ROOT) / "src/cli" / file);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    REQUIRE_FALSE(text.empty());
    for (std::sregex_iterator m(text.begin(), text.end(), lookup_re), end; m != end; ++m) {
      std::string opt = (*m)[1];
      INFO(file << ": " << opt);
      CHECK((spec->args.with_value.count(opt) + spec->args.flags.count(opt)) == 1);
      ++seen;
    }
  }
  CHECK(seen > 50);   // the scan found the lookups
}

TEST_CASE("every command defines options, each once") {
  for (const CommandSpec* c : all_specs()) {
    INFO(c->name);
    CHECK(c->args.with_value.size() + c->args.flags.size() > 0);
    for (const auto& v : c->args.with_value) CHECK(c->args.flags.count(v) == 0);
  }
}

TEST_CASE("zbuild-cc's help names every ZBUILD_* variable it reads") {
  std::string help = zbuild::runner::help_text();
  std::regex getenv_re(R"re(getenv\("(ZBUILD_[A-Z_]+)"\))re");
  std::set<std::string> names;
  for (const char* dir : {"src/runner", "src/cli"}) {
    for (auto& e : std::filesystem::directory_iterator(std::filesystem::path(ZBUILD_SOURCE_ROOT) / dir)) {
      if (e.path().extension() != ".cc" || e.path().string().find("_test") != std::string::npos) continue;
      if (std::string(dir) == "src/cli" && e.path().filename() != "cc_main.cc") continue;
      std::ifstream f(e.path());
      std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      for (std::sregex_iterator m(text.begin(), text.end(), getenv_re), end; m != end; ++m) names.insert((*m)[1]);
    }
  }
  REQUIRE(names.count("ZBUILD_DAEMON") == 1);   // the scan found the sources
  for (const auto& var : names) {
    INFO(var);
    CHECK(help.find("  " + var) != std::string::npos);
  }
}
