// Every option a command's parser accepts is described in its --help: a line of the help that
// starts (after indentation) with the option, alone or among "A, B" names. zbuild-cc has no
// options; every ZBUILD_* variable its sources read must be named in its help instead.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "runner/runner.h"

using namespace zbuild::cli;

namespace {

// The option names a help line describes: a line indented by 1 to 4 blanks, its leading words
// up to a gap of two blanks, e.g.
// "  -o, --output FILE  where..." -> {"-o", "--output"}.
std::set<std::string> described(const std::string& help) {
  std::set<std::string> out;
  std::istringstream lines(help);
  std::string line;
  while (std::getline(lines, line)) {
    size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos || start == 0 || start > 4 || line[start] != '-') continue;   // not a continuation
    std::string head = line.substr(start, line.find("  ", start) - start);
    std::istringstream words(head);
    std::string w;
    while (words >> w) {
      if (!w.empty() && w.back() == ',') w.pop_back();
      if (w.rfind("-", 0) == 0) out.insert(w.substr(0, w.find('=')));
    }
  }
  return out;
}

std::vector<const CommandSpec*> all_specs() {
  return {&daemon_spec(), &submit_spec(), &status_spec(), &graph_spec(), &report_spec(), &keygen_spec(), &worker_spec()};
}

}  // namespace

TEST_CASE("the description finder reads option lines only") {
  auto d = described("usage: x [--a N]\n\ntext --b here\n  --c N      c\n  -o, --output FILE  o\n  --d=auto|x  d\n"
                     "                       --e in a continuation\n");
  CHECK(d == std::set<std::string>{"--c", "-o", "--output", "--d"});
}

TEST_CASE("every option each command parses is described in its --help") {
  for (const CommandSpec* c : all_specs()) {
    auto d = described(c->help);
    std::set<std::string> parsed = c->args.with_value;
    parsed.insert(c->args.flags.begin(), c->args.flags.end());
    for (const auto& opt : parsed) {
      INFO(c->name << ": " << opt);
      CHECK(d.count(opt) == 1);
    }
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
