// The build graph as zbuild submit reads it (graph.json, docs/graph-format.md).
// Paths in a loaded Graph are normalised and relative to `root`; argv is kept as written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace zbuild::graph {

struct Task {
  std::string id;
  std::vector<std::string> argv;
  std::string cwd = ".";                      // relative to root
  std::vector<std::string> inputs;            // relative to root, normalised
  std::vector<std::string> outputs;           // relative to root, normalised
  std::vector<std::string> deps;              // task ids named explicitly
  std::map<std::string, std::string> env;
  int64_t timeout_s = 600;

  // Filled by validation: every dependency (explicit, and implied by an input that is another
  // task's output), as indexes into Graph::tasks, sorted and unique.
  std::vector<size_t> dep_index;
};

struct Graph {
  int version = 1;
  std::filesystem::path root;                 // absolute, lexically normal
  std::vector<Task> tasks;
  std::map<std::string, size_t> output_owner; // output path -> producing task index
};

// Reads, parses (format v1 or the older "source_files" format), normalises and validates a
// graph file. Errors name the file and the place (line:column for bad JSON, the task id, the
// cycle as "a -> b -> a"). `check_inputs` also requires every input that no task produces to
// exist under the root.
Result<Graph> load_graph(const std::filesystem::path& file, bool check_inputs = true);

// Same from text; `source_name` is used in messages, `base_dir` anchors a relative "root".
Result<Graph> parse_graph(const std::string& text, const std::string& source_name,
                          const std::filesystem::path& base_dir, bool check_inputs = true);

namespace detail {
// parse_graph reads a well-formed version-1 graph straight into its tasks, and hands any other
// text to this, which reads it as a JSON document (and words every error). For tests: the two
// give the same graph.
Result<Graph> parse_graph_document(const std::string& text, const std::string& source_name,
                                   const std::filesystem::path& base_dir, bool check_inputs = true);
// True when parse_graph reads `text` directly (well-formed, version 1, every value typed as
// expected); the checks on paths and across tasks come after, either way.
bool reads_directly(const std::string& text);
}  // namespace detail

// Topological order (dependencies first). Requires a validated graph.
std::vector<size_t> topological_order(const Graph& g);

}  // namespace zbuild::graph
