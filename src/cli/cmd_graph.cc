// zbuild graph
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "graph/import.h"
#include "common/fs.h"
#include "graph/graph.h"

namespace zbuild::cli {

static const char* kGraphHelp =
    "usage: zbuild graph [--root DIR] [-o GRAPH] [--target T1,T2] [--ninja PROGRAM]\n"
    "                    [--keep-launcher] [--quiet]\n"
    "                    (--compdb compile_commands.json | --ninja-dir BUILD_DIR)\n"
    "\n"
    "Writes a graph.json (docs/graph-format.md) for `zbuild submit` from another build:\n"
    "  --compdb FILE      one compile task per entry of a compilation database\n"
    "  --ninja-dir DIR    every edge of a ninja build (CMake's or meson's Ninja generator)\n"
    "                     that the targets need: compiles, archives, links, custom commands\n"
    "  --target LIST      ninja targets to include, comma-separated (default: all)\n"
    "  --root DIR         the graph's root (default: the common folder of the build folder\n"
    "                     and the sources)\n"
    "  -o FILE            where to write the graph (default graph.json; - for stdout)\n"
    "  --ninja PROGRAM    the ninja to query the build folder with (default: ninja in PATH)\n"
    "  --keep-launcher    keep a ccache/sccache/distcc/icecc/zbuild-cc launcher in front of compiles\n"
    "  --quiet            no warnings and no summary on stderr\n"
    "Exit status: 0 written, 2 bad usage or an unreadable or unusable build description.\n";

const CommandSpec& graph_spec() {
  static const CommandSpec spec{"graph", kGraphHelp};
  return spec;
}

int cmd_graph(int argc, char** argv) {
  int exit = 0;
  auto args = read_command_line(graph_spec(), argc, argv, 2, &exit);
  if (!args) return exit;
  bool compdb = args->values.count("--compdb") > 0;
  bool ninja = args->values.count("--ninja-dir") > 0;
  if (compdb == ninja || !args->positional.empty()) {
    return usage_error(graph_spec(), "give exactly one of --compdb FILE and --ninja-dir DIR");
  }
  graph::ImportOptions opts;
  opts.root = args->get("--root");
  opts.strip_launchers = !args->has("--keep-launcher");
  opts.ninja = args->get("--ninja", "ninja");
  std::string targets = args->get("--target");
  for (size_t i = 0; i < targets.size();) {
    size_t j = targets.find(',', i);
    if (j == std::string::npos) j = targets.size();
    if (j > i) opts.targets.push_back(targets.substr(i, j - i));
    i = j + 1;
  }
  auto r = compdb ? graph::import_compdb(args->get("--compdb"), opts)
                  : graph::import_ninja(args->get("--ninja-dir"), opts);
  if (!r.ok()) {
    std::fprintf(stderr, "zbuild graph: %s\n", r.error().message.c_str());
    return 2;
  }
  bool quiet = args->has("--quiet");
  const size_t kMaxWarnings = 20;
  for (size_t i = 0; i < r->warnings.size() && !quiet; ++i) {
    if (i == kMaxWarnings) {
      std::fprintf(stderr, "zbuild graph: warning: ... and %zu more\n", r->warnings.size() - kMaxWarnings);
      break;
    }
    std::fprintf(stderr, "zbuild graph: warning: %s\n", r->warnings[i].c_str());
  }
  if (r->graph.tasks.empty()) {
    std::fprintf(stderr, "zbuild graph: no task found to build\n");
    return 2;
  }

  std::string out = args->get("-o", "graph.json");
  std::string text = graph::graph_to_json(r->graph);
  // The graph must load as `zbuild submit` will load it (inputs are checked there, when the
  // build runs: a compilation database may name sources that are generated later).
  std::filesystem::path out_dir =
      out == "-" ? std::filesystem::current_path() : std::filesystem::absolute(out).parent_path();
  auto check = graph::parse_graph(text, out == "-" ? "graph" : out, out_dir, false);
  if (!check.ok()) {
    std::fprintf(stderr, "zbuild graph: the converted graph is not valid: %s\n", check.error().message.c_str());
    return 2;
  }
  if (out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    auto w = write_file_atomic(out, text);
    if (!w.ok()) {
      std::fprintf(stderr, "zbuild graph: %s: %s\n", out.c_str(), w.error().message.c_str());
      return 2;
    }
  }
  if (!quiet) {
    std::fprintf(stderr, "zbuild graph: %s: %zu tasks, root %s\n", out == "-" ? "stdout" : out.c_str(),
                 r->graph.tasks.size(), r->graph.root.c_str());
  }
  return 0;
}

}  // namespace zbuild::cli
