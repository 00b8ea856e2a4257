#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proto/action.h"
#include "proto/root_free.h"

using namespace zbuild;

namespace {

// A CMake-style compile of src/x.c under `root`, as `zbuild submit` prepares it.
ActionSpec compile_in(const std::string& root, bool keep_root_paths = false, std::vector<std::string> extra = {}) {
  ActionSpec a;
  a.root = root;
  a.cwd = "build";
  a.argv = {"/usr/bin/gcc", "-I" + root + "/include", "-isystem", root + "/third", "-g", "-O2"};
  a.argv.insert(a.argv.end(), extra.begin(), extra.end());
  for (auto s : {"-MD", "-MT", "CMakeFiles/x.dir/src/x.c.o", "-MF", "CMakeFiles/x.dir/src/x.c.o.d", "-o",
                 "CMakeFiles/x.dir/src/x.c.o", "-c"}) {
    a.argv.push_back(s);
  }
  a.argv.push_back(root + "/src/x.c");
  if (!keep_root_paths) REQUIRE(add_root_prefix_map(a.argv, root));
  a.env = {"LANG=C"};
  a.inputs = {InputSpec{"include/x.h", Digest{1, 2, 3}, false, 0}, InputSpec{"src/x.c", Digest{4, 5, 6}, false, 0}};
  a.outputs = {"build/CMakeFiles/x.dir/src/x.c.o", "build/CMakeFiles/x.dir/src/x.c.o.d"};
  a.host_files = {HostFileSpec{"/usr/bin/gcc", Digest{7, 8, 9}}};
  return a;
}

ActionSpec link_in(const std::string& root, std::vector<std::string> argv) {
  ActionSpec a;
  a.root = root;
  a.cwd = "build";
  a.argv = std::move(argv);
  a.inputs = {InputSpec{"build/a.o", Digest{1, 1, 1}, false, 0}};
  a.outputs = {"build/app"};
  a.host_files = {HostFileSpec{"/usr/bin/g++", Digest{7, 8, 9}}};
  return a;
}

}  // namespace

TEST_CASE("the same compile in two checkouts has one key") {
  auto a = compile_in("/home/a/proj");
  auto b = compile_in("/home/b/checkout2");
  REQUIRE(a.argv[1] == "-ffile-prefix-map=/home/a/proj=.");
  REQUIRE(root_free(a));
  REQUIRE(root_free(b));
  REQUIRE(action_key(a) == action_key(b));
  // Still a key of the content: another input digest, another key.
  b.inputs[0].digest = Digest{1, 2, 4};
  REQUIRE(action_key(a) != action_key(b));
}

TEST_CASE("a root named where the map does not reach keeps the root in the key") {
  for (const std::string& opt : {std::string("-DDATA=\"ROOT/share\""), std::string("-Wl,-rpath,ROOT/lib"),
                                 std::string("-fdebug-prefix-map=ROOT/src=/src"), std::string("-I/x/ROOT/include")}) {
    auto with = [&](const std::string& root) {
      std::string o = opt;
      o.replace(o.find("ROOT"), 4, root);
      return compile_in(root, false, {o});
    };
    auto a = with("/home/a/proj");
    auto b = with("/home/b/proj");
    INFO(opt);
    REQUIRE_FALSE(root_free(a));
    REQUIRE(action_key(a) != action_key(b));
  }
  // A -D in its separate form, and an option that records the command line.
  auto a = compile_in("/home/a/proj", false, {"-D", "DIR=/home/a/proj"});
  auto b = compile_in("/home/b/proj", false, {"-D", "DIR=/home/b/proj"});
  REQUIRE_FALSE(root_free(a));
  REQUIRE(action_key(a) != action_key(b));
  a = compile_in("/home/a/proj", false, {"-frecord-gcc-switches"});
  b = compile_in("/home/b/proj", false, {"-frecord-gcc-switches"});
  REQUIRE(action_key(a) != action_key(b));
  a = compile_in("/home/a/proj", false, {"--coverage"});
  b = compile_in("/home/b/proj", false, {"--coverage"});
  REQUIRE(action_key(a) != action_key(b));
  // A root in the environment.
  a = compile_in("/home/a/proj");
  b = compile_in("/home/b/proj");
  a.env.push_back("SOURCE_DATE_EPOCH=/home/a/proj");
  b.env.push_back("SOURCE_DATE_EPOCH=/home/b/proj");
  REQUIRE(action_key(a) != action_key(b));
}

TEST_CASE("a root that holds host files keeps the root in the key") {
  // A client may name any root: with /usr/include the map would rewrite system headers' paths.
  auto a = compile_in("/usr/include");
  a.host_files.push_back(HostFileSpec{"/usr/include/stdio.h", Digest{1, 1, 1}});
  REQUIRE_FALSE(root_free(a));
  auto b = compile_in("/home/b/proj");
  b.host_files.push_back(HostFileSpec{"/usr/include/stdio.h", Digest{1, 1, 1}});
  REQUIRE(root_free(b));
  REQUIRE(action_key(a) != action_key(b));
}

TEST_CASE("a -D not naming the root stays shared") {
  auto a = compile_in("/home/a/proj", false, {"-DVERSION=3", "-D", "NAME=x"});
  auto b = compile_in("/home/b/proj", false, {"-DVERSION=3", "-D", "NAME=x"});
  REQUIRE(action_key(a) == action_key(b));
}

TEST_CASE("--keep-root-paths keys by the root") {
  auto a = compile_in("/home/a/proj", true);
  auto b = compile_in("/home/b/proj", true);
  REQUIRE_FALSE(root_free(a));
  REQUIRE(action_key(a) != action_key(b));
  REQUIRE(action_key(a) != action_key(compile_in("/home/a/proj")));
  // Without the root's map in argv (a graph of one's own, or an unmappable root) likewise.
  auto c = compile_in("/home/a/my proj", true);
  REQUIRE_FALSE(add_root_prefix_map(c.argv, c.root));
  REQUIRE_FALSE(root_free(c));
}

TEST_CASE("links and archives: shared unless they name the root") {
  auto a = link_in("/home/a/proj", {"g++", "-o", "app", "a.o", "-lm"});
  auto b = link_in("/home/b/proj", {"g++", "-o", "app", "a.o", "-lm"});
  REQUIRE(root_free(a));
  REQUIRE(action_key(a) == action_key(b));
  a = link_in("/home/a/proj", {"ar", "qc", "libx.a", "a.o"});
  b = link_in("/home/b/proj", {"ar", "qc", "libx.a", "a.o"});
  REQUIRE(action_key(a) == action_key(b));
  // A link naming the root (CMake's absolute -L, an rpath) keeps it.
  a = link_in("/home/a/proj", {"g++", "-o", "app", "a.o", "-L/home/a/proj/lib", "-Wl,-rpath,/home/a/proj/lib"});
  b = link_in("/home/b/proj", {"g++", "-o", "app", "a.o", "-L/home/b/proj/lib", "-Wl,-rpath,/home/b/proj/lib"});
  REQUIRE_FALSE(root_free(a));
  REQUIRE(action_key(a) != action_key(b));
  // A driver that compiles a source itself, LTO, the assembler and custom commands keep it.
  for (auto argv : std::vector<std::vector<std::string>>{{"g++", "-g", "main.cc", "-o", "app"},
                                                         {"g++", "-flto", "a.o", "-o", "app"},
                                                         {"as", "--gdwarf-5", "x.s", "-o", "x.o"},
                                                         {"sh", "-c", "pwd > out"}}) {
    INFO(argv[0] + " " + argv[1]);
    REQUIRE_FALSE(root_free(link_in("/home/a/proj", argv)));
    REQUIRE(action_key(link_in("/home/a/proj", argv)) != action_key(link_in("/home/b/proj", argv)));
  }
}

TEST_CASE("CMake's archive script is shared; other shell scripts are not") {
  const std::string cmake_ar =
      "/usr/bin/cmake -E rm -f libx.a && /usr/bin/ar qc libx.a  CMakeFiles/x.dir/a.c.o && /usr/bin/ranlib libx.a";
  auto a = link_in("/home/a/proj", {"sh", "-c", cmake_ar});
  auto b = link_in("/home/b/proj", {"sh", "-c", cmake_ar});
  REQUIRE(root_free(a));
  REQUIRE(action_key(a) == action_key(b));
  REQUIRE(root_free(link_in("/p", {"sh", "-c", ": && /usr/bin/ar qc libx.a a.o && :"})));
  for (std::string script : {"/usr/bin/ar qc libx.a a.o && pwd > where", "/usr/bin/ar qc /home/a/proj/libx.a a.o",
                             "/usr/bin/ar qc libx.a $(pwd)/a.o", "/usr/bin/ar qc libx.a a.o; pwd > w",
                             "/usr/bin/ar qc libx.a a.o & pwd", "/usr/bin/ar qc 'lib x.a' a.o",
                             "/usr/bin/cmake -E copy a b", "x86_64-linux-gnu-gcc -c a.c", "/usr/bin/ar qc libx.a a.o &&"}) {
    INFO(script);
    REQUIRE_FALSE(root_free(link_in("/home/a/proj", {"sh", "-c", script})));
  }
}

TEST_CASE("the root's map is added to C/C++ compiles only") {
  std::vector<std::string> c = {"cc", "-c", "x.c"};
  REQUIRE(add_root_prefix_map(c, "/r"));
  REQUIRE(c == std::vector<std::string>{"cc", "-ffile-prefix-map=/r=.", "-c", "x.c"});
  REQUIRE(add_root_prefix_map(c, "/r"));   // not twice
  REQUIRE(c.size() == 4);
  std::vector<std::string> e = {"cc", "-E", "-c", "x.c"};
  REQUIRE_FALSE(add_root_prefix_map(e, "/r"));
  std::vector<std::string> l = {"cc", "x.o", "-o", "app"};
  REQUIRE_FALSE(add_root_prefix_map(l, "/r"));
  for (auto bad : {"/", "relative", "/a/../b", "/a b", "/a=b", "/a$b", "/a/", "//a", "/a//b", "/a/./b", "/a/.", "/..", "/a/.."}) {
    INFO(bad);
    REQUIRE_FALSE(root_mappable(bad));
  }
  REQUIRE(root_mappable("/home/user-1/src/proj_2.0+x"));
  REQUIRE(root_mappable("/a/.b/..c/b.."));
}

TEST_CASE("placeholders at path boundaries only") {
  REQUIRE(without_root("-I/r/inc", "/r") == "-I" + std::string(kRootPlaceholder) + "/inc");
  REQUIRE(without_root("/r", "/r") == std::string(kRootPlaceholder));
  REQUIRE(without_root("/rx/inc", "/r") == "/rx/inc");
  // A cached message: the root out, the reader's root back in.
  std::string msg = "/home/a/p/src/x.c:1:5: warning: unused variable\n/home/a/px/y.c\n";
  REQUIRE(with_root(without_root(msg, "/home/a/p"), "/b/q") == "/b/q/src/x.c:1:5: warning: unused variable\n/home/a/px/y.c\n");
}

TEST_CASE("the depfiles a compile writes") {
  auto a = compile_in("/home/a/proj");
  REQUIRE(depfile_outputs(a) == std::vector<std::string>{"build/CMakeFiles/x.dir/src/x.c.o.d"});
  ActionSpec b;
  b.root = "/r";
  b.cwd = "out";
  b.argv = {"gcc", "-MMD", "-c", "../src/y.c", "-o", "obj/y.o"};
  REQUIRE(depfile_outputs(b) == std::vector<std::string>{"out/obj/y.d"});
  b.argv = {"gcc", "-MD", "-c", "/r/src/y.c"};
  REQUIRE(depfile_outputs(b) == std::vector<std::string>{"out/y.d"});
  b.argv = {"gcc", "-Wp,-MMD,/r/out/.y.o.d", "-c", "y.c"};
  REQUIRE(depfile_outputs(b) == std::vector<std::string>{"out/.y.o.d"});
  b.argv = {"gcc", "-MF/tmp/y.d", "-MD", "-c", "y.c"};
  REQUIRE(depfile_outputs(b).empty());   // outside the root
}

TEST_CASE("depfiles rewritten relative to the task's folder, exactly") {
  std::string text =
      "CMakeFiles/x.dir/src/x.c.o: /home/a/proj/src/x.c /home/a/proj/include/x.h \\\n"
      " /usr/include/stdio.h /home/a/proj/build/gen/cfg.h /home/a/proj/my\\ dir/y.h \\\n"
      " /home/a/projX/z.h /home/a/proj\n"
      "/home/a/proj/include/x.h:\n";
  std::string want =
      "CMakeFiles/x.dir/src/x.c.o: ../src/x.c ../include/x.h \\\n"
      " /usr/include/stdio.h gen/cfg.h ../my\\ dir/y.h \\\n"
      " /home/a/projX/z.h ..\n"
      "../include/x.h:\n";
  REQUIRE(relativize_depfile(text, {"/home/a/proj"}, "build") == want);
  // The sandbox standing in for the root, and the task at the root itself.
  REQUIRE(relativize_depfile("x.o: /sb/7/src/x.c /sb/7/x.h\n", {"/home/a/proj", "/sb/7"}, ".") == "x.o: src/x.c x.h\n");
  // Nothing under the prefixes: unchanged, byte for byte.
  std::string other = "x.o: src/x.c \\\n /usr/include/stdio.h\n";
  REQUIRE(relativize_depfile(other, {"/home/a/proj"}, "build") == other);
  // A path with an escaped blank before the root is one word: not a path under the root.
  REQUIRE(relativize_depfile("x.o: a\\ /home/a/proj/x.h\n", {"/home/a/proj"}, ".") == "x.o: a\\ /home/a/proj/x.h\n");
}
