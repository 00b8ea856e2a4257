#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace fs = std::filesystem;
using zbuild::graph::Graph;
using zbuild::graph::load_graph;
using zbuild::graph::parse_graph;
using zbuild::graph::topological_order;

namespace {

// A fresh folder under the system temp folder, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("zbuild-graph-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

  fs::path write(const std::string& rel, const std::string& text) const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  fs::path path_;
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Parses text that is expected to be rejected; returns the message.
std::string error_of(const std::string& text, bool check_inputs = false) {
  auto r = parse_graph(text, "my-graph.json", "/nonexistent/proj", check_inputs);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

Graph parse_ok(const std::string& text, const fs::path& base = "/nonexistent/proj") {
  auto r = parse_graph(text, "my-graph.json", base, false);
  if (!r.ok()) FAIL(r.error().message);
  return std::move(r).value();
}

size_t index_of(const Graph& g, const std::string& id) {
  for (size_t i = 0; i < g.tasks.size(); ++i) {
    if (g.tasks[i].id == id) return i;
  }
  FAIL("no task " + id);
  return 0;
}

void require_deps_first(const Graph& g, const std::vector<size_t>& order) {
  REQUIRE(order.size() == g.tasks.size());
  std::vector<size_t> pos(order.size(), order.size());
  for (size_t k = 0; k < order.size(); ++k) pos[order[k]] = k;
  for (size_t i = 0; i < g.tasks.size(); ++i) {
    REQUIRE(pos[i] < order.size());
    for (size_t d : g.tasks[i].dep_index) REQUIRE(pos[d] < pos[i]);
  }
}

}  // namespace

TEST_CASE("a valid v1 graph is loaded and normalised") {
  TempDir dir;
  dir.write("proj/src/a.cc", "int a;\n");
  dir.write("proj/src/b.cc", "int b;\n");
  dir.write("proj/include/h.h", "\n");
  fs::path root = dir.path() / "proj";
  std::string abs_b = (root / "src" / "." / "b.cc").string();
  auto file = dir.write("graph.json", R"({
    "version": 1,
    "root": "./proj/../proj/",
    "something_new": true,
    "tasks": [
      {"id": "obj/a.o", "argv": ["g++", "-c", "src/a.cc", "-o", "obj/a.o"],
       "inputs": ["src/./a.cc", "include/../include/h.h"], "outputs": ["obj/a.o"],
       "env": {"LANG": "C"}, "timeout_s": 30, "cwd": "sub/..", "unknown_key": 1},
      {"id": "obj/b.o", "argv": ["g++", "-c", "src/b.cc", "-o", "obj/b.o"],
       "inputs": [")" + abs_b + R"("], "outputs": ["./obj/b.o", "obj/b.o"]},
      {"id": "app", "argv": ["g++", "obj/a.o", "obj/b.o", "-o", "bin/app"],
       "inputs": ["obj//a.o", "obj/b.o"], "outputs": ["bin/app"], "cwd": "bin"},
      {"id": "test", "argv": ["bin/app"], "deps": ["app", "obj/a.o"]}
    ]})");

  auto r = load_graph(file);
  if (!r.ok()) FAIL(r.error().message);
  const Graph& g = r.value();
  REQUIRE(g.version == 1);
  REQUIRE(g.root == root);
  REQUIRE(g.root.is_absolute());
  REQUIRE(g.tasks.size() == 4);

  const auto& a = g.tasks[0];
  REQUIRE(a.id == "obj/a.o");
  REQUIRE(a.argv == std::vector<std::string>{"g++", "-c", "src/a.cc", "-o", "obj/a.o"});
  REQUIRE(a.inputs == std::vector<std::string>{"src/a.cc", "include/h.h"});
  REQUIRE(a.outputs == std::vector<std::string>{"obj/a.o"});
  REQUIRE(a.cwd == ".");
  REQUIRE(a.env == std::map<std::string, std::string>{{"LANG", "C"}});
  REQUIRE(a.timeout_s == 30);
  REQUIRE(a.dep_index.empty());

  const auto& b = g.tasks[1];
  REQUIRE(b.inputs == std::vector<std::string>{"src/b.cc"});  // absolute under root accepted
  REQUIRE(b.outputs == std::vector<std::string>{"obj/b.o"});  // repeats dropped
  REQUIRE(b.timeout_s == 600);
  REQUIRE(b.cwd == ".");

  const auto& app = g.tasks[2];
  REQUIRE(app.inputs == std::vector<std::string>{"obj/a.o", "obj/b.o"});
  REQUIRE(app.cwd == "bin");
  REQUIRE(app.dep_index == std::vector<size_t>{0, 1});  // implicit, from inputs

  const auto& test = g.tasks[3];
  REQUIRE(test.deps == std::vector<std::string>{"app", "obj/a.o"});
  REQUIRE(test.dep_index == std::vector<size_t>{0, 2});  // sorted

  REQUIRE(g.output_owner.size() == 3);
  REQUIRE(g.output_owner.at("obj/a.o") == 0);
  REQUIRE(g.output_owner.at("obj/b.o") == 1);
  REQUIRE(g.output_owner.at("bin/app") == 2);
}

TEST_CASE("root defaults to the graph file's folder and may be absolute") {
  TempDir dir;
  dir.write("src/a.cc", "");
  auto file = dir.write("g.json", R"({"version": 1, "tasks": [
      {"id": "a", "argv": ["cc"], "inputs": ["src/a.cc"]}]})");
  auto r = load_graph(file);
  if (!r.ok()) FAIL(r.error().message);
  REQUIRE(r.value().root == dir.path());

  auto g = parse_ok(R"({"version": 1, "root": "/abs/where", "tasks": []})");
  REQUIRE(g.root == fs::path("/abs/where"));
  auto g2 = parse_ok(R"({"version": 1, "root": "sub", "tasks": []})", "/base/dir");
  REQUIRE(g2.root == fs::path("/base/dir/sub"));
}

TEST_CASE("a graph without a version whose tasks have argv is read as version 1") {
  auto g = parse_ok(R"({"tasks": [{"id": "a", "argv": ["true"]}]})");
  REQUIRE(g.tasks.size() == 1);
  REQUIRE(g.tasks[0].argv == std::vector<std::string>{"true"});
}

TEST_CASE("the older format is converted to argv") {
  auto g = parse_ok(R"({"tasks": [
    {"id": "c", "source_files": ["src/x.c", "src/y.c"], "dependencies": ["inc/x.h"],
     "compile_flags": " -O2   -Wall\t-c ", "output_path": "obj/x.o", "timeout_seconds": 42},
    {"id": "cpp", "source_files": ["src/m.c", "src/z.cc"], "compile_flags": ["-c", "-g"],
     "output_path": "obj/z.o"},
    {"id": "link", "dependencies": ["obj/x.o", "obj/z.o"], "compile_flags": "-lm -pthread",
     "output_path": "bin/app", "depends_on": ["c"]},
    {"id": "bare", "output_path": "out/bare"}
  ]})");
  REQUIRE(g.tasks.size() == 4);
  REQUIRE(g.root == fs::path("/nonexistent/proj"));

  const auto& c = g.tasks[0];
  REQUIRE(c.argv ==
          std::vector<std::string>{"gcc", "-O2", "-Wall", "-c", "src/x.c", "src/y.c", "-o", "obj/x.o"});
  REQUIRE(c.inputs == std::vector<std::string>{"src/x.c", "src/y.c", "inc/x.h"});
  REQUIRE(c.outputs == std::vector<std::string>{"obj/x.o"});
  REQUIRE(c.timeout_s == 42);
  REQUIRE(c.cwd == ".");

  const auto& cpp = g.tasks[1];
  REQUIRE(cpp.argv == std::vector<std::string>{"g++", "-c", "-g", "src/m.c", "src/z.cc", "-o", "obj/z.o"});
  REQUIRE(cpp.inputs == std::vector<std::string>{"src/m.c", "src/z.cc"});
  REQUIRE(cpp.timeout_s == 600);

  const auto& link = g.tasks[2];
  REQUIRE(link.argv ==
          std::vector<std::string>{"g++", "obj/x.o", "obj/z.o", "-o", "bin/app", "-lm", "-pthread"});
  REQUIRE(link.inputs == std::vector<std::string>{"obj/x.o", "obj/z.o"});
  REQUIRE(link.outputs == std::vector<std::string>{"bin/app"});
  REQUIRE(link.deps == std::vector<std::string>{"c"});
  REQUIRE(link.dep_index == std::vector<size_t>{0, 1});

  const auto& bare = g.tasks[3];
  REQUIRE(bare.argv == std::vector<std::string>{"g++", "-o", "out/bare"});
  REQUIRE(bare.inputs.empty());
}

TEST_CASE("the older format compiles to an object when the flags do not say -c") {
  auto g = parse_ok(R"({"tasks": [
    {"id": "main", "source_files": ["src/main.cc"], "compile_flags": ["-std=c++17", "-O2"],
     "output_path": "bin/main.o"},
    {"id": "str", "source_files": ["src/s.c"], "compile_flags": "-O2 -g", "output_path": "obj/s.o"},
    {"id": "noflags", "source_files": ["src/n.cc"], "output_path": "obj/n.obj"},
    {"id": "app", "dependencies": ["bin/main.o", "obj/s.o", "obj/n.obj"], "compile_flags": ["-lm"],
     "output_path": "bin/app"}
  ]})");
  REQUIRE(g.tasks[0].argv ==
          std::vector<std::string>{"g++", "-std=c++17", "-O2", "-c", "src/main.cc", "-o", "bin/main.o"});
  REQUIRE(g.tasks[1].argv == std::vector<std::string>{"gcc", "-O2", "-g", "-c", "src/s.c", "-o", "obj/s.o"});
  REQUIRE(g.tasks[2].argv == std::vector<std::string>{"g++", "-c", "src/n.cc", "-o", "obj/n.obj"});
  // The link is untouched, and still depends on the three compiles through its inputs.
  REQUIRE(g.tasks[3].argv ==
          std::vector<std::string>{"g++", "bin/main.o", "obj/s.o", "obj/n.obj", "-o", "bin/app", "-lm"});
  REQUIRE(g.tasks[3].dep_index == std::vector<size_t>{0, 1, 2});
}

TEST_CASE("the older format adds -c only where the flags choose no stage and the output is an object") {
  auto g = parse_ok(R"({"tasks": [
    {"id": "c", "source_files": ["a.cc"], "compile_flags": ["-O2", "-c"], "output_path": "a.o"},
    {"id": "S", "source_files": ["b.cc"], "compile_flags": "-S", "output_path": "b.o"},
    {"id": "E", "source_files": ["c.cc"], "compile_flags": ["-E"], "output_path": "c.o"},
    {"id": "asm", "source_files": ["d.cc"], "compile_flags": ["-S"], "output_path": "d.s"},
    {"id": "exe", "source_files": ["e.cc"], "compile_flags": ["-O2"], "output_path": "bin/e"},
    {"id": "notobj", "source_files": ["f.cc"], "output_path": "f.co"},
    {"id": "partial", "dependencies": ["a.o", "b.o"], "compile_flags": ["-r"], "output_path": "ab.o"}
  ]})");
  REQUIRE(g.tasks[0].argv == std::vector<std::string>{"g++", "-O2", "-c", "a.cc", "-o", "a.o"});   // not twice
  REQUIRE(g.tasks[1].argv == std::vector<std::string>{"g++", "-S", "b.cc", "-o", "b.o"});
  REQUIRE(g.tasks[2].argv == std::vector<std::string>{"g++", "-E", "c.cc", "-o", "c.o"});
  REQUIRE(g.tasks[3].argv == std::vector<std::string>{"g++", "-S", "d.cc", "-o", "d.s"});
  REQUIRE(g.tasks[4].argv == std::vector<std::string>{"g++", "-O2", "e.cc", "-o", "bin/e"});   // compile and link
  REQUIRE(g.tasks[5].argv == std::vector<std::string>{"g++", "f.cc", "-o", "f.co"});
  // A task without source_files is a link, whatever its output is called (here a partial link).
  REQUIRE(g.tasks[6].argv == std::vector<std::string>{"g++", "a.o", "b.o", "-o", "ab.o", "-r"});
}

TEST_CASE("the older format requires id and output_path") {
  auto m = error_of(R"({"tasks": [{"id": "c", "source_files": ["a.c"]}]})");
  REQUIRE(contains(m, "my-graph.json"));
  REQUIRE(contains(m, "task 'c' (#1)"));
  REQUIRE(contains(m, "'output_path'"));
  m = error_of(R"({"tasks": [{"output_path": "a.o"}]})");
  REQUIRE(contains(m, "my-graph.json: task #1: missing 'id'"));
  m = error_of(R"({"tasks": [{"id": "c", "output_path": "a.o", "compile_flags": 3}]})");
  REQUIRE(contains(m, "task 'c' (#1): 'compile_flags' must be a string or an array of strings"));
}

TEST_CASE("malformed JSON names the file, line and column") {
  auto m = error_of("{\n  \"tasks\": [\n    {\"id\": \"a\",, }\n  ]\n}\n");
  INFO(m);
  REQUIRE(contains(m, "my-graph.json:3:16: invalid JSON"));
  m = error_of("{\"tasks\": [");
  INFO(m);
  REQUIRE(contains(m, "my-graph.json:1:"));
  REQUIRE(contains(error_of("[1, 2]"), "my-graph.json: the graph must be a JSON object"));
}

TEST_CASE("wrong types are refused with the task named") {
  auto m = error_of(R"({"version": 1, "tasks": [{"id": "ok", "argv": ["x"]},
                      {"id": "a", "argv": "g++ -c a.cc"}]})");
  REQUIRE(m == "my-graph.json: task 'a' (#2): 'argv' must be an array of strings");
  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["g++", 3]}]})");
  REQUIRE(m == "my-graph.json: task 'a' (#1): 'argv' must be an array of strings");
  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": []}]})");
  REQUIRE(m == "my-graph.json: task 'a' (#1): 'argv' must not be empty");
  m = error_of(R"({"version": 1, "tasks": [{"id": "a"}]})");
  REQUIRE(m == "my-graph.json: task 'a' (#1): missing 'argv'");
  m = error_of(R"({"version": 1, "tasks": [{"argv": ["x"]}]})");
  REQUIRE(m == "my-graph.json: task #1: missing 'id'");
  m = error_of(R"({"version": 1, "tasks": [{"id": "", "argv": ["x"]}]})");
  REQUIRE(m == "my-graph.json: task #1: 'id' must be a non-empty string");
  m = error_of(R"({"version": 1, "tasks": [{"id": 7, "argv": ["x"]}]})");
  REQUIRE(m == "my-graph.json: task #1: 'id' must be a non-empty string");
  m = error_of(R"({"version": 1, "tasks": [3]})");
  REQUIRE(m == "my-graph.json: task #1: a task must be a JSON object");

  for (const char* bad : {"0", "-5", "1.5", "\"60\"", "true"}) {
    m = error_of(std::string(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "timeout_s": )") +
                 bad + "}]}");
    REQUIRE(m == "my-graph.json: task 'a' (#1): 'timeout_s' must be a positive integer");
  }
  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "env": {"K": 1}}]})");
  REQUIRE(contains(m, "my-graph.json: task 'a' (#1): 'env'"));
  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "env": ["K=1"]}]})");
  REQUIRE(contains(m, "my-graph.json: task 'a' (#1): 'env' must be an object"));
  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "inputs": "a.cc"}]})");
  REQUIRE(m == "my-graph.json: task 'a' (#1): 'inputs' must be an array of strings");
  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "deps": [1]}]})");
  REQUIRE(m == "my-graph.json: task 'a' (#1): 'deps' must be an array of strings");
  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "cwd": 1}]})");
  REQUIRE(m == "my-graph.json: task 'a' (#1): 'cwd' must be a string");
  REQUIRE(contains(error_of(R"({"version": 1, "tasks": {}})"), "my-graph.json: 'tasks' must be an array"));
  REQUIRE(contains(error_of(R"({"version": 1})"), "my-graph.json: missing 'tasks'"));
  REQUIRE(contains(error_of(R"({"version": 1, "root": 5, "tasks": []})"), "'root'"));
}

TEST_CASE("only format version 1 is accepted") {
  auto m = error_of(R"({"version": 2, "tasks": []})");
  REQUIRE(contains(m, "my-graph.json"));
  REQUIRE(contains(m, "version 2"));
  REQUIRE_FALSE(parse_graph(R"({"version": "1", "tasks": []})", "g", "/p", false).ok());
}

TEST_CASE("duplicate ids, unknown and self deps are refused") {
  auto m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"]}, {"id": "b", "argv": ["x"]},
                                              {"id": "a", "argv": ["y"]}]})");
  REQUIRE(contains(m, "my-graph.json"));
  REQUIRE(contains(m, "task 'a' (#3): duplicate id"));
  REQUIRE(contains(m, "#1"));

  m = error_of(R"({"version": 1, "tasks": [{"id": "x", "argv": ["x"], "deps": ["y"]}]})");
  REQUIRE(m == "my-graph.json: task 'x' depends on unknown task 'y'");

  m = error_of(R"({"version": 1, "tasks": [{"id": "x", "argv": ["x"], "deps": ["x"]}]})");
  REQUIRE(m == "my-graph.json: task 'x' depends on itself");

  m = error_of(R"({"version": 1, "tasks": [{"id": "x", "argv": ["x"], "inputs": ["f"], "outputs": ["./f"]}]})");
  REQUIRE(contains(m, "my-graph.json: task 'x'"));
  REQUIRE(contains(m, "'f' is both an input and an output"));
}

TEST_CASE("two tasks writing one output are refused") {
  auto m = error_of(R"({"version": 1, "tasks": [
      {"id": "first", "argv": ["x"], "outputs": ["obj/a.o"]},
      {"id": "second", "argv": ["x"], "outputs": ["obj/./a.o"]}]})");
  REQUIRE(m == "my-graph.json: tasks 'first' and 'second' both write 'obj/a.o'");
}

TEST_CASE("paths escaping the root are refused") {
  auto m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "inputs": ["src/../../x.h"]}]})");
  REQUIRE(contains(m, "my-graph.json: task 'a': input"));
  REQUIRE(contains(m, "climbs out of the root"));

  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "inputs": ["/etc/passwd"]}]})");
  REQUIRE(contains(m, "my-graph.json: task 'a': input"));
  REQUIRE(contains(m, "outside the root"));

  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "outputs": ["/nonexistent/projx/a"]}]})");
  REQUIRE(contains(m, "my-graph.json: task 'a': output"));

  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "cwd": ".."}]})");
  REQUIRE(contains(m, "my-graph.json: task 'a': cwd"));

  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "outputs": ["."]}]})");
  REQUIRE(contains(m, "my-graph.json: task 'a': output"));

  m = error_of(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "inputs": [""]}]})");
  REQUIRE(contains(m, "my-graph.json: task 'a': input"));

  m = error_of(R"({"tasks": [{"id": "old", "output_path": "../out.o"}]})");
  REQUIRE(contains(m, "my-graph.json: task 'old': output"));
}

TEST_CASE("a task environment that makes the loader or an interpreter run code is refused") {
  for (const char* var : {"LD_PRELOAD", "LD_LIBRARY_PATH", "GCONV_PATH", "MALLOC_CHECK_", "PATH", "PYTHONPATH",
                          "BASH_ENV", "GCC_EXEC_PREFIX"}) {
    INFO(var);
    auto m = error_of(std::string(R"({"version": 1, "tasks": [
        {"id": "fine", "argv": ["x"], "env": {"LANG": "C"}},
        {"id": "evil", "argv": ["x"], "env": {"CFLAGS": "-O2", ")") + var + R"(": "/tmp/x.so"}}]})");
    CHECK(contains(m, "my-graph.json: task 'evil': "));
    CHECK(contains(m, std::string("environment variable ") + var + " is refused"));
  }
  // The graph file is named when it is loaded from disk.
  TempDir dir;
  auto file = dir.write("g.json", R"({"version": 1, "tasks": [{"id": "cc", "argv": ["gcc", "-c", "a.c"],
      "env": {"LD_AUDIT": "x.so"}}]})");
  auto r = load_graph(file, /*check_inputs=*/false);
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error().message, file.string() + ": task 'cc': environment variable LD_AUDIT is refused"));
  // Ordinary variables pass.
  auto g = parse_ok(R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "env": {"LANG": "C", "CPPFLAGS": "-DX"}}]})");
  CHECK(g.tasks[0].env.at("CPPFLAGS") == "-DX");
}

TEST_CASE("inputs must exist unless a task produces them") {
  TempDir dir;
  dir.write("src/here.cc", "");
  auto file = dir.write("build/graph.json", R"({"version": 1, "root": "..", "tasks": [
      {"id": "gen", "argv": ["x"], "outputs": ["gen/g.h"]},
      {"id": "cc", "argv": ["x"], "inputs": ["src/here.cc", "gen/g.h", "src/missing.cc"]}]})");

  auto r = load_graph(file);
  REQUIRE_FALSE(r.ok());
  const auto& m = r.error().message;
  INFO(m);
  REQUIRE(contains(m, file.string()));
  REQUIRE(contains(m, "task 'cc'"));
  REQUIRE(contains(m, "input 'src/missing.cc' does not exist"));

  auto unchecked = load_graph(file, /*check_inputs=*/false);
  REQUIRE(unchecked.ok());
  REQUIRE(unchecked.value().tasks[1].dep_index == std::vector<size_t>{0});

  dir.write("src/missing.cc", "");
  REQUIRE(load_graph(file).ok());
}

TEST_CASE("a missing graph file is reported with its name") {
  auto r = load_graph("/nonexistent/dir/graph.json");
  REQUIRE_FALSE(r.ok());
  REQUIRE(contains(r.error().message, "/nonexistent/dir/graph.json"));
}

TEST_CASE("cycles are printed, including implicit edges") {
  auto m = error_of(R"({"version": 1, "tasks": [
      {"id": "a", "argv": ["x"], "deps": ["b"]},
      {"id": "b", "argv": ["x"], "inputs": ["c.out"]},
      {"id": "c", "argv": ["x"], "outputs": ["c.out"], "deps": ["a"]}]})");
  REQUIRE(m == "my-graph.json: dependency cycle: a -> b -> c -> a");

  m = error_of(R"({"version": 1, "tasks": [
      {"id": "free", "argv": ["x"]},
      {"id": "p", "argv": ["x"], "inputs": ["q.out"], "outputs": ["p.out"]},
      {"id": "q", "argv": ["x"], "inputs": ["p.out"], "outputs": ["q.out"]}]})");
  REQUIRE(m == "my-graph.json: dependency cycle: p -> q -> p");
}

namespace {
// Task t<i> reads t<i-1>'s output (i > 0); tasks are listed last-first.
std::string chain_graph(size_t n, bool close_cycle) {
  std::string s = R"({"version": 1, "tasks": [)";
  for (size_t k = 0; k < n; ++k) {
    size_t i = n - 1 - k;
    if (k) s += ",\n";
    s += R"({"id": "t)" + std::to_string(i) + R"(", "argv": ["step"], "outputs": ["out/)" +
         std::to_string(i) + R"("])";
    if (i > 0) s += R"(, "inputs": ["out/)" + std::to_string(i - 1) + R"("])";
    if (i == 0 && close_cycle) s += R"(, "deps": ["t)" + std::to_string(n - 1) + R"("])";
    s += "}";
  }
  s += "]}";
  return s;
}
}  // namespace

TEST_CASE("a 10,000-task chain is handled without recursion") {
  const size_t n = 10000;
  auto g = parse_ok(chain_graph(n, false));
  REQUIRE(g.tasks.size() == n);
  auto order = topological_order(g);
  REQUIRE(order.size() == n);
  for (size_t k = 0; k < n; ++k) REQUIRE(g.tasks[order[k]].id == "t" + std::to_string(k));
  require_deps_first(g, order);

  auto m = error_of(chain_graph(n, true));
  REQUIRE(contains(m, "my-graph.json: dependency cycle: "));
  REQUIRE(contains(m, "dependency cycle: t9999 -> t9998 -> "));
  REQUIRE(contains(m, " -> t1 -> t0 -> t9999"));
}

TEST_CASE("topological_order puts dependencies first") {
  auto g = parse_ok(R"({"version": 1, "tasks": [
      {"id": "test", "argv": ["x"], "deps": ["app", "lib"]},
      {"id": "app", "argv": ["x"], "inputs": ["lib.a", "main.o"], "outputs": ["app"]},
      {"id": "lib", "argv": ["x"], "inputs": ["a.o", "b.o"], "outputs": ["lib.a"]},
      {"id": "main", "argv": ["x"], "outputs": ["main.o"]},
      {"id": "b", "argv": ["x"], "outputs": ["b.o"]},
      {"id": "a", "argv": ["x"], "outputs": ["a.o"]},
      {"id": "lonely", "argv": ["x"]}]})");
  auto order = topological_order(g);
  require_deps_first(g, order);
  // Among ready tasks the one listed first goes first: "lonely" waits until "test" has run.
  std::vector<std::string> ids;
  for (size_t i : order) ids.push_back(g.tasks[i].id);
  REQUIRE(ids == std::vector<std::string>{"main", "b", "a", "lib", "app", "test", "lonely"});
  REQUIRE(g.tasks[index_of(g, "app")].dep_index ==
          std::vector<size_t>{index_of(g, "lib"), index_of(g, "main")});
  REQUIRE(topological_order(Graph{}).empty());
}

// parse_graph reads a well-formed version-1 graph without a JSON document in between; anything
// else goes to the document reader. Both must give the same graph, and the same error.
TEST_CASE("the direct reader and the document reader give the same graph and the same errors") {
  TempDir dir;
  auto same = [&](const std::string& text, bool direct_reader) {
    INFO(text);
    CHECK(zbuild::graph::detail::reads_directly(text) == direct_reader);
    auto direct = parse_graph(text, "g.json", dir.path(), false);
    auto doc = zbuild::graph::detail::parse_graph_document(text, "g.json", dir.path(), false);
    REQUIRE(direct.ok() == doc.ok());
    if (!doc.ok()) {
      CHECK(direct.error().message == doc.error().message);
      return;
    }
    const Graph& a = direct.value();
    const Graph& b = doc.value();
    CHECK(a.root == b.root);
    CHECK(a.output_owner == b.output_owner);
    REQUIRE(a.tasks.size() == b.tasks.size());
    for (size_t i = 0; i < a.tasks.size(); ++i) {
      CHECK(a.tasks[i].id == b.tasks[i].id);
      CHECK(a.tasks[i].argv == b.tasks[i].argv);
      CHECK(a.tasks[i].cwd == b.tasks[i].cwd);
      CHECK(a.tasks[i].inputs == b.tasks[i].inputs);
      CHECK(a.tasks[i].outputs == b.tasks[i].outputs);
      CHECK(a.tasks[i].deps == b.tasks[i].deps);
      CHECK(a.tasks[i].env == b.tasks[i].env);
      CHECK(a.tasks[i].timeout_s == b.tasks[i].timeout_s);
      CHECK(a.tasks[i].dep_index == b.tasks[i].dep_index);
    }
  };
  // Read directly: every field, fields no one reads (nested too) at the top and in tasks, a
  // relative and an absolute root, paths to normalise, repeated environment names.
  same(R"({"version": 1, "root": "sub/..", "comment": {"a": [1, {"b": null}], "c": true}, "tasks": [
        {"id": "a", "argv": ["cc", "-c", "x.c"], "cwd": "src/../src", "inputs": ["./x.c", "x.c"],
         "outputs": ["out/x.o"], "env": {"LANG": "C", "LANG": "en"}, "timeout_s": 30, "note": [[], {}]},
        {"extra": 1.5, "id": "b", "argv": ["ld", "out/x.o"], "deps": ["a"], "outputs": ["app"], "env": {}}],
        "tail": "x"})", true);
  same(R"({"tasks": [{"id": "a", "argv": ["true"]}], "root": "/abs/root", "version": 1})", true);
  same(R"({"version": 1, "tasks": []})", true);
  // Read directly, refused by the checks that follow either reader.
  same(R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"], "outputs": ["../x"]}]})", true);
  same(R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"], "deps": ["nope"]}]})", true);
  same(R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"]}, {"id": "a", "argv": ["true"]}]})", true);
  // Given to the document reader, which words what is wrong (or reads what the direct reader
  // does not take on: no version, a repeated task field).
  for (const char* text : {
           R"({"tasks": [{"id": "a", "argv": ["true"]}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["x"], "argv": ["true"]}]})",
           R"({"version": 2, "tasks": []})",
           R"({"version": 1.0, "tasks": []})",
           R"({"version": 1, "version": 1, "tasks": []})",
           R"({"version": 1, "root": "", "tasks": []})",
           R"({"version": 1, "root": 5, "tasks": []})",
           R"({"version": 1})",
           R"({"version": 1, "tasks": {}})",
           R"({"version": 1, "tasks": ["a"]})",
           R"({"version": 1, "tasks": [{"argv": ["true"]}]})",
           R"({"version": 1, "tasks": [{"id": "", "argv": ["true"]}]})",
           R"({"version": 1, "tasks": [{"id": "a"}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": []}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": "true"}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true", 1]}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"], "cwd": 3}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"], "env": {"A": 1}}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"], "env": []}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"], "timeout_s": 0}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"], "timeout_s": -3}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"], "timeout_s": 2.5}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"], "output_path": "x.o"}]})",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"]}]} trailing)",
           R"({"version": 1, "tasks": [{"id": "a", "argv": ["true"]})",
           R"([1, 2])",
       }) {
    same(text, false);
  }
}
