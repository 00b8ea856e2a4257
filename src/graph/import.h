// `zbuild graph`: turns another build system's description into a graph.json (format v1,
// docs/graph-format.md) that `zbuild submit` can run.
//
// Two sources:
//  * a compilation database (compile_commands.json): one compile task per entry;
//  * a ninja build folder (CMake's or meson's Ninja generator): every real edge needed for the
//    requested targets (default "all") becomes a task — compiles, archives, links, custom
//    commands — with its inputs and outputs taken from ninja itself (`ninja -t targets`,
//    `-t query`, `-t compdb`, `-t commands`).
//
// Commands that are a plain command line are split into argv the way a POSIX shell would;
// CMake's `: && CMD && :` link wrapper is unwrapped; anything else compound (`&&`, `;`, pipes,
// redirections, `cd DIR && ...`, variable expansion) runs as ["sh", "-c", COMMAND].
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "graph/graph.h"

namespace zbuild::graph {

struct ImportOptions {
  std::filesystem::path root;          // empty: the common ancestor of the build and source folders
  std::vector<std::string> targets;    // ninja only; empty: "all" (or ninja's root targets)
  bool strip_launchers = true;         // drop a leading ccache/sccache/distcc/icecc from compiles
  std::string ninja = "ninja";         // the ninja program
};

struct ImportResult {
  graph::Graph graph;                  // root absolute; paths relative to it; dep_index unused
  std::vector<std::string> warnings;   // things left out, with the reason
};

// Splits a command line as `sh` would split a simple command: blanks separate words; '...'
// is literal; "..." keeps blanks and takes backslash escapes of \ " $ ` and newline; a
// backslash outside quotes escapes the next character. Fails on an unterminated quote.
Result<std::vector<std::string>> split_command(std::string_view cmd);

// True when `cmd` needs a shell: an unquoted operator or expansion (&& || ; | & < > ( ) $ `
// * ? [ ~ at a word start, #comment) or a leading VAR=value assignment.
bool needs_shell(std::string_view cmd);

// The argv that runs `cmd`: ": && X && :" is reduced to X; a simple X is split, anything else
// becomes {"sh", "-c", X}.
Result<std::vector<std::string>> command_to_argv(std::string_view cmd);

// Converts compile_commands.json text. `source_name` names the file in messages (malformed
// JSON is reported as "NAME:LINE:COL: invalid JSON: ..."). `base_dir` anchors relative
// "directory" values.
Result<ImportResult> import_compdb_text(const std::string& text, const std::string& source_name,
                                        const std::filesystem::path& base_dir, const ImportOptions& opts);
Result<ImportResult> import_compdb(const std::filesystem::path& file, const ImportOptions& opts);

// Asks ninja about the build folder `dir` and converts every edge the targets need.
Result<ImportResult> import_ninja(const std::filesystem::path& dir, const ImportOptions& opts);

// One node of `ninja -t query` output.
struct NinjaQueryNode {
  std::string path;
  std::string rule;                     // empty when nothing builds the node (a source)
  std::vector<std::string> explicit_inputs;
  std::vector<std::string> implicit_inputs;
  std::vector<std::string> order_only_inputs;
};
Result<std::vector<NinjaQueryNode>> parse_ninja_query(const std::string& text);

// `ninja -t targets all` output: (path, rule) per line.
std::vector<std::pair<std::string, std::string>> parse_ninja_targets(const std::string& text);

// graph.json text (format version 1, the root written as an absolute path).
std::string graph_to_json(const graph::Graph& g);

}  // namespace zbuild::graph
