// Which compiles `zbuild submit` runs with their object named after their command, and what
// their actions become (client/object_names.h).
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "client/object_names.h"

using namespace zbuild;
using namespace zbuild::client;

namespace {

ActionSpec compile(const std::string& obj, std::vector<std::string> extra = {}, const std::string& cwd = "build") {
  ActionSpec a;
  a.root = "/r";
  a.cwd = cwd;
  a.argv = {"gcc", "-ffile-prefix-map=/r=.", "-O2", "-I/r/src"};
  a.argv.insert(a.argv.end(), extra.begin(), extra.end());
  for (const char* s : {"-MD", "-MT"}) a.argv.push_back(s);
  a.argv.push_back(obj);
  a.argv.push_back("-MF");
  a.argv.push_back(obj + ".d");
  a.argv.push_back("-o");
  a.argv.push_back(obj);
  a.argv.push_back("-c");
  a.argv.push_back("/r/src/a.c");
  a.outputs = {cwd + "/" + obj};
  return a;
}

}  // namespace

TEST_CASE("one source compiled into two objects becomes one action") {
  ActionSpec x = compile("x/a.o"), y = compile("y/a.o");
  auto ax = name_object_by_command(x, "build/x/a.o", {});
  auto ay = name_object_by_command(y, "build/y/a.o", {});
  REQUIRE(ax);
  REQUIRE(ay);
  CHECK(*ax == *ay);
  CHECK(ax->starts_with("build/zbuild-object-"));
  CHECK(ax->ends_with(".o"));
  CHECK(x.argv == y.argv);
  CHECK(x.outputs == std::vector<std::string>{*ax});
  const std::string name = ax->substr(std::string("build/").size());
  // -o names the new file; the dependency options are gone (the task declares no depfile).
  auto at = std::find(x.argv.begin(), x.argv.end(), "-o");
  REQUIRE(at + 1 < x.argv.end());
  CHECK(*(at + 1) == name);
  for (const char* gone : {"-MD", "-MT", "-MF", "x/a.o", "x/a.o.d"}) {
    INFO(gone);
    CHECK(std::find(x.argv.begin(), x.argv.end(), gone) == x.argv.end());
  }
  // Everything else as it was, in order.
  CHECK(x.argv[1] == "-ffile-prefix-map=/r=.");
  CHECK(x.argv.back() == "/r/src/a.c");

  // Another checkout names it the same; other flags or another folder do not.
  ActionSpec other_root = compile("x/a.o");
  other_root.root = "/q";
  for (auto& s : other_root.argv) {
    if (auto p = s.find("/r"); p != std::string::npos) s.replace(p, 2, "/q");
  }
  REQUIRE(name_object_by_command(other_root, "build/x/a.o", {}) == ax);
  ActionSpec o3 = compile("x/a.o", {"-O3"});
  auto a3 = name_object_by_command(o3, "build/x/a.o", {});
  REQUIRE(a3);
  CHECK(*a3 != *ax);
  ActionSpec elsewhere = compile("x/a.o", {}, "b2");
  auto ae = name_object_by_command(elsewhere, "b2/x/a.o", {});
  REQUIRE(ae);
  CHECK(ae->substr(3) != ax->substr(6));

  // An absolute -o under the root names the same declared output.
  ActionSpec abs = compile("/r/build/x/a.o");
  CHECK(name_object_by_command(abs, "build/x/a.o", {}));
}

TEST_CASE("compiles whose object cannot be renamed keep their command") {
  auto unchanged = [](ActionSpec a, const std::string& declared, std::set<std::string> taken = {}) {
    ActionSpec before = a;
    auto as = name_object_by_command(a, declared, taken);
    CHECK_FALSE(as);
    CHECK(a.argv == before.argv);
    CHECK(a.outputs == before.outputs);
  };
  unchanged(compile("x/a.o"), "build/x/other.o");                          // -o is not the declared output
  unchanged(compile("x/a.o", {"@flags.rsp"}), "build/x/a.o");              // a response file
  unchanged(compile("x/a.o", {"-frecord-command-line"}), "build/x/a.o");   // the object records its command
  unchanged(compile("x/a.o", {"-grecord-command-line"}), "build/x/a.o");
  unchanged(compile("x/a.o", {"--coverage"}), "build/x/a.o");              // files named after the object
  unchanged(compile("x/a.o", {"-gsplit-dwarf"}), "build/x/a.o");
  unchanged(compile("x/a.o", {"-save-temps"}), "build/x/a.o");
  ActionSpec link;
  link.root = "/r";
  link.cwd = "build";
  link.argv = {"gcc", "-o", "prog", "a.o", "b.o"};
  link.outputs = {"build/prog"};
  unchanged(link, "build/prog");
  ActionSpec sh = compile("x/a.o");
  sh.argv.insert(sh.argv.begin(), {"sh", "-c"});
  unchanged(sh, "build/x/a.o");
  // The name would be a file the graph reads or writes.
  ActionSpec probe = compile("x/a.o");
  auto as = name_object_by_command(probe, "build/x/a.o", {});
  REQUIRE(as);
  unchanged(compile("x/a.o"), "build/x/a.o", {*as});
}

TEST_CASE("inputs read from a renamed producer name its action's output") {
  std::vector<ActionSpec> acts(3);
  acts[2].inputs = {InputSpec{"build/x/a.o", Digest{}, false, 1}, InputSpec{"build/b.o", Digest{}, false, 2},
                    InputSpec{"src/main.c", Digest{}, false, 0}};
  name_produced_inputs(acts, {"build/zbuild-object-0123456789abcdef.o", "", ""});
  CHECK(acts[2].inputs[0].produced_as == "build/zbuild-object-0123456789abcdef.o");
  CHECK(acts[2].inputs[0].path == "build/x/a.o");
  CHECK(acts[2].inputs[1].produced_as.empty());
  CHECK(acts[2].inputs[2].produced_as.empty());
}
