#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "graph/import.h"
#include "common/subprocess.h"
#include "graph/graph.h"

using namespace zbuild::graph;
using Words = std::vector<std::string>;

// The words of a command that must split.
static Words words(const zbuild::Result<Words>& r) {
  REQUIRE(r.ok());
  return r.value();
}

TEST_CASE("split_command splits on blanks and honours quotes and backslashes") {
  REQUIRE(words(split_command("  g++   -O2\t-c a.cc  -o a.o ")) == Words{"g++", "-O2", "-c", "a.cc", "-o", "a.o"});

  REQUIRE(words(split_command(R"(gcc '-DNAME=a b' "-DQ=\"x y\"" -DP=\"s\" dir\ with\ space/a.c 'it'\''s' "\$HOME" "a\b")")) == Words{"gcc", "-DNAME=a b", "-DQ=\"x y\"", "-DP=\"s\"", "dir with space/a.c", "it's", "$HOME",
                             "a\\b"});

  REQUIRE(words(split_command("a \"\" ''")) == Words{"a", "", ""});

  REQUIRE(words(split_command("cc -c \\\n  x.c")) == Words{"cc", "-c", "x.c"});

  REQUIRE(split_command("").value().empty());
  REQUIRE_FALSE(split_command("gcc 'unterminated").ok());
  REQUIRE_FALSE(split_command("gcc \"unterminated").ok());
}

TEST_CASE("needs_shell spots operators, expansions and shell builtins outside quotes") {
  REQUIRE_FALSE(needs_shell("g++ -O2 -c a.cc -o a.o"));
  REQUIRE_FALSE(needs_shell("g++ '-DX=a&&b' \"-DY=(1)\" -Dz=\\;"));
  REQUIRE_FALSE(needs_shell("g++ -DV=1 -c a.cc"));
  REQUIRE(needs_shell("a && b"));
  REQUIRE(needs_shell("a; b"));
  REQUIRE(needs_shell("a | b"));
  REQUIRE(needs_shell("a > out"));
  REQUIRE(needs_shell("echo $HOME"));
  REQUIRE(needs_shell("echo \"$HOME\""));
  REQUIRE(needs_shell("echo `date`"));
  REQUIRE(needs_shell("ls *.o"));
  REQUIRE(needs_shell("cd build && make"));
  REQUIRE(needs_shell("CC=gcc make"));
  REQUIRE(needs_shell("ls ~/x"));
}

TEST_CASE("command_to_argv unwraps CMake's link wrapper and uses sh -c for compound commands") {
  REQUIRE(words(command_to_argv(": && /usr/bin/g++ -O2 CMakeFiles/foo.dir/main.cc.o -o foo  libbar.a && :")) == Words{"/usr/bin/g++", "-O2", "CMakeFiles/foo.dir/main.cc.o", "-o", "foo", "libbar.a"});

  std::string ar =
      ": && /usr/bin/cmake -E rm -f libbar.a && /usr/bin/ar qc libbar.a  b.cc.o && /usr/bin/ranlib libbar.a && :";
  REQUIRE(words(command_to_argv(ar)) == Words{"sh", "-c",
                             "/usr/bin/cmake -E rm -f libbar.a && /usr/bin/ar qc libbar.a  b.cc.o && "
                             "/usr/bin/ranlib libbar.a"});

  REQUIRE(words(command_to_argv("cd /p/build && sh -c \"echo x > gen.h\"")) == Words{"sh", "-c", "cd /p/build && sh -c \"echo x > gen.h\""});

  REQUIRE(words(command_to_argv("gcc -c 'a.c' -o a.o")) == Words{"gcc", "-c", "a.c", "-o", "a.o"});

  REQUIRE_FALSE(command_to_argv("   ").ok());
}

namespace {

const char* kCompdb = R"([
  {"directory": "/p/build", "file": "/p/src/a.cc",
   "command": "/usr/bin/ccache /usr/bin/g++ -I/p/src/include -O2 -o CMakeFiles/t.dir/a.cc.o -c /p/src/a.cc"},
  {"directory": "/p/build", "file": "../src/b.c",
   "arguments": ["gcc", "-DMSG=\"hi there\"", "-c", "../src/b.c", "-o", "obj/b.o"]},
  {"directory": "/p/build/sub", "file": "c.c", "command": "cc -c c.c", "output": "c.o"}
])";

}  // namespace

TEST_CASE("a compilation database becomes one compile task per entry") {
  auto r = import_compdb_text(kCompdb, "compile_commands.json", "/p", ImportOptions{});
  REQUIRE(r.ok());
  auto& g = r.value().graph;
  REQUIRE(g.root == std::filesystem::path("/p"));
  REQUIRE(g.tasks.size() == 3u);

  auto& a = g.tasks[0];
  REQUIRE(a.id == "build/CMakeFiles/t.dir/a.cc.o");
  REQUIRE(a.argv == Words{"/usr/bin/g++", "-I/p/src/include", "-O2", "-o", "CMakeFiles/t.dir/a.cc.o", "-c",
                          "/p/src/a.cc"});   // the ccache launcher is dropped
  REQUIRE(a.cwd == "build");
  REQUIRE(a.inputs == Words{"src/a.cc"});
  REQUIRE(a.outputs == Words{"build/CMakeFiles/t.dir/a.cc.o"});

  auto& b = g.tasks[1];
  REQUIRE(b.argv == Words{"gcc", "-DMSG=\"hi there\"", "-c", "../src/b.c", "-o", "obj/b.o"});
  REQUIRE(b.inputs == Words{"src/b.c"});
  REQUIRE(b.outputs == Words{"build/obj/b.o"});

  auto& c = g.tasks[2];   // no -o: the entry's "output"
  REQUIRE(c.cwd == "build/sub");
  REQUIRE(c.inputs == Words{"build/sub/c.c"});
  REQUIRE(c.outputs == Words{"build/sub/c.o"});

  // The JSON it writes loads as a valid graph.
  auto text = graph_to_json(g);
  auto loaded = zbuild::graph::parse_graph(text, "graph.json", "/tmp", false);
  REQUIRE(loaded.ok());
  REQUIRE(loaded.value().tasks.size() == 3u);
  REQUIRE(loaded.value().root == std::filesystem::path("/p"));
  REQUIRE(loaded.value().tasks[1].argv == b.argv);
}

TEST_CASE("compdb options: the launcher can be kept, the root given") {
  ImportOptions o;
  o.strip_launchers = false;
  o.root = "/";
  auto r = import_compdb_text(kCompdb, "cdb.json", "/p", o);
  REQUIRE(r.ok());
  REQUIRE(r.value().graph.root == std::filesystem::path("/"));
  REQUIRE(r.value().graph.tasks[0].argv[0] == "/usr/bin/ccache");
  REQUIRE(r.value().graph.tasks[0].cwd == "p/build");

  o.root = "/p/build";
  r = import_compdb_text(kCompdb, "cdb.json", "/p", o);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().message.find("outside the root /p/build") != std::string::npos);
}

TEST_CASE("compdb: zbuild-cc is dropped like ccache, also behind it") {
  const char* db = R"([
  {"directory": "/p/build", "file": "/p/src/a.c", "command": "/usr/local/bin/zbuild-cc gcc -c /p/src/a.c -o a.o"},
  {"directory": "/p/build", "file": "/p/src/b.c", "arguments": ["ccache", "zbuild-cc", "cc", "-c", "/p/src/b.c", "-o", "b.o"]}
])";
  auto r = import_compdb_text(db, "compile_commands.json", "/p", ImportOptions{});
  REQUIRE(r.ok());
  REQUIRE(r.value().graph.tasks.size() == 2u);
  REQUIRE(r.value().graph.tasks[0].argv == Words{"gcc", "-c", "/p/src/a.c", "-o", "a.o"});
  REQUIRE(r.value().graph.tasks[1].argv == Words{"cc", "-c", "/p/src/b.c", "-o", "b.o"});
  ImportOptions keep;
  keep.strip_launchers = false;
  r = import_compdb_text(db, "compile_commands.json", "/p", keep);
  REQUIRE(r.ok());
  REQUIRE(r.value().graph.tasks[0].argv[0] == "/usr/local/bin/zbuild-cc");
}

TEST_CASE("relative directories resolve against the database's folder; duplicates are dropped") {
  const char* text = R"([
    {"directory": "build", "file": "../a.c", "command": "gcc -c ../a.c -o a.o"},
    {"directory": "build", "file": "../a.c", "command": "gcc -O2 -c ../a.c -o a.o"}
  ])";
  auto r = import_compdb_text(text, "cdb.json", "/q/proj", ImportOptions{});
  REQUIRE(r.ok());
  REQUIRE(r.value().graph.root == std::filesystem::path("/q/proj"));
  REQUIRE(r.value().graph.tasks.size() == 1u);
  REQUIRE(r.value().graph.tasks[0].inputs == Words{"a.c"});
  REQUIRE(r.value().graph.tasks[0].outputs == Words{"build/a.o"});
  REQUIRE(r.value().warnings.size() == 1u);
}

TEST_CASE("compdb errors name the file and the place") {
  auto r = import_compdb_text("[\n  {\"directory\": \"/p\",\n   \"file\": }\n]", "cc.json", "/p", ImportOptions{});
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message);
  REQUIRE(r.error().message.rfind("cc.json:3:12: invalid JSON: ", 0) == 0);

  r = import_compdb_text("{}", "cc.json", "/p", ImportOptions{});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().message == "cc.json: a compilation database must be a JSON array");

  r = import_compdb_text(R"([{"directory": "/p", "file": "a.c"}])", "cc.json", "/p", ImportOptions{});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().message == "cc.json: entry #1 (a.c): needs 'arguments' or 'command'");

  r = import_compdb_text(R"([{"file": "a.c", "command": "gcc -c a.c -o a.o"}])", "cc.json", "/p", ImportOptions{});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().message == "cc.json: entry #1: missing 'directory'");

  r = import_compdb_text(R"([{"directory": "/p", "file": "a.c", "command": "gcc -c a.c"}])", "cc.json", "/p",
                         ImportOptions{});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().message.find("no -o OUTPUT") != std::string::npos);

  r = import_compdb_text(R"([{"directory": "/p", "file": "a.c", "command": "gcc 'a.c"}])", "cc.json", "/p",
                         ImportOptions{});
  REQUIRE_FALSE(r.ok());   // sh -c (unterminated quote) and no "output"

  auto missing = import_compdb("/nonexistent/compile_commands.json", ImportOptions{});
  REQUIRE_FALSE(missing.ok());
  REQUIRE(missing.error().message == "/nonexistent/compile_commands.json: no such file");
}

TEST_CASE("ninja -t query and -t targets output is parsed") {
  const char* q =
      "foo:\n"
      "  input: CXX_EXECUTABLE_LINKER__foo_\n"
      "    CMakeFiles/foo.dir/main.cc.o\n"
      "    | libbar.a\n"
      "    || cmake_object_order_depends_target_foo\n"
      "  outputs:\n"
      "    all\n"
      "/p/src/a.cc:\n"
      "  outputs:\n"
      "    a.o\n";
  auto nodes = parse_ninja_query(q);
  REQUIRE(nodes.ok());
  REQUIRE(nodes.value().size() == 2u);
  auto& f = nodes.value()[0];
  REQUIRE(f.path == "foo");
  REQUIRE(f.rule == "CXX_EXECUTABLE_LINKER__foo_");
  REQUIRE(f.explicit_inputs == Words{"CMakeFiles/foo.dir/main.cc.o"});
  REQUIRE(f.implicit_inputs == Words{"libbar.a"});
  REQUIRE(f.order_only_inputs == Words{"cmake_object_order_depends_target_foo"});
  REQUIRE(nodes.value()[1].rule.empty());
  REQUIRE_FALSE(parse_ninja_query("    stray\n").ok());

  auto t = parse_ninja_targets("libbar.a: CXX_STATIC_LIBRARY_LINKER__bar_\nall: phony\n");
  REQUIRE(t.size() == 2u);
  REQUIRE(t[0] == std::make_pair(std::string("libbar.a"), std::string("CXX_STATIC_LIBRARY_LINKER__bar_")));
  REQUIRE(t[1].second == "phony");
}

namespace {

void write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  FILE* f = std::fopen(p.c_str(), "w");
  REQUIRE(f);
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

const zbuild::graph::Task* find_task(const zbuild::graph::Graph& g, const std::string& id) {
  for (auto& t : g.tasks) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("a ninja build folder becomes the tasks its default target needs") {
  if (zbuild::find_in_path("ninja").empty()) {
    WARN("ninja not in PATH: skipped");
    return;
  }
  namespace fs = std::filesystem;
  fs::path proj = fs::temp_directory_path() / ("zbuild-graph-import-" + std::to_string(::getpid()));
  fs::remove_all(proj);
  for (const char* f : {"a.c", "b.c", "other.c"}) write(proj / "src" / f, "int x;\n");
  write(proj / "build" / "build.ninja",
        "rule cc\n  command = gcc -c $in -o $out\n"
        "rule zcc\n  command = /opt/zbuild/bin/zbuild-cc gcc -c $in -o $out\n"
        "rule link\n  command = : && gcc $in -o $out && :\n"
        "rule gen\n  command = cd " + (proj / "build").string() + " && sh -c \"echo x > gen.h; echo y > gen2.h\"\n"
        "rule symlink\n  command = /usr/bin/cmake -E cmake_symlink_library $in $out && :\n"
        "rule RERUN_CMAKE\n  command = cmake -S.. -B.\n  generator = 1\n"
        "build gen.h gen2.h: gen\n"
        "build order_dep: phony || gen.h\n"
        "build a.o: cc ../src/a.c || order_dep\n"
        "build b.o: zcc " + (proj / "src" / "b.c").string() + "\n"
        "build libx.so.1.2: link a.o b.o\n"
        "build libx.so.1 libx.so: symlink libx.so.1.2\n"
        "build app: link a.o | libx.so\n"
        "build other.o: cc ../src/other.c\n"
        "build all: phony app libx.so\n"
        "build build.ninja: RERUN_CMAKE ../src/a.c\n"
        "default all\n");

  auto r = import_ninja(proj / "build", ImportOptions{});
  fs::remove_all(proj);
  REQUIRE(r.ok());
  auto& g = r.value().graph;
  REQUIRE(g.root == proj);
  std::vector<std::string> ids;
  for (auto& t : g.tasks) ids.push_back(t.id);
  // build.ninja order; other.o is not needed by `all`, the regeneration step is left out.
  REQUIRE(ids == Words{"build/gen.h", "build/a.o", "build/b.o", "build/libx.so.1.2", "build/libx.so", "build/app"});

  auto* gen = find_task(g, "build/gen.h");
  REQUIRE(gen->argv[0] == "sh");
  REQUIRE(gen->outputs == Words{"build/gen.h", "build/gen2.h"});
  REQUIRE(gen->cwd == "build");

  auto* a = find_task(g, "build/a.o");
  REQUIRE(a->argv == Words{"gcc", "-c", "../src/a.c", "-o", "a.o"});
  REQUIRE(a->inputs == Words{"src/a.c", "build/gen.h"});   // order-only generated file, through a phony
  REQUIRE(a->outputs == Words{"build/a.o"});

  auto* b = find_task(g, "build/b.o");   // the zbuild-cc launcher is dropped, as ccache is
  REQUIRE(b->argv == Words{"gcc", "-c", (proj / "src" / "b.c").string(), "-o", "b.o"});
  REQUIRE(b->inputs == Words{"src/b.c"});

  auto* lib = find_task(g, "build/libx.so.1.2");
  REQUIRE(lib->argv == Words{"gcc", "a.o", "b.o", "-o", "libx.so.1.2"});   // ": && ... && :" unwrapped
  REQUIRE(lib->inputs == Words{"build/a.o", "build/b.o"});

  auto* links = find_task(g, "build/libx.so");   // symbolic links become copies
  REQUIRE(links->argv == Words{"sh", "-c", "cp -f libx.so.1.2 libx.so.1 && cp -f libx.so.1.2 libx.so"});
  REQUIRE(links->outputs == Words{"build/libx.so", "build/libx.so.1"});

  auto* app = find_task(g, "build/app");
  REQUIRE(app->inputs == Words{"build/a.o", "build/libx.so"});

  // Graph JSON round trip, inputs not checked (the folder is gone).
  REQUIRE(zbuild::graph::parse_graph(graph_to_json(g), "graph.json", "/", false).ok());
}

TEST_CASE("import_ninja reports a folder without build.ninja") {
  auto r = import_ninja("/nonexistent-zbuild-dir", ImportOptions{});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().message == "/nonexistent-zbuild-dir: no such folder");
}
