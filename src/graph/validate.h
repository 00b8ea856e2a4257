// Internal to the graph component: checks a parsed graph and fills the derived fields.
#pragma once

#include <string>

#include "common/result.h"
#include "graph/graph.h"

namespace zbuild::graph::detail {

// Checks ids, deps, outputs, inputs and cycles in `g` (paths already normalised), and fills
// Task::dep_index and Graph::output_owner. Messages start with `source_name`.
Status validate_graph(Graph& g, const std::string& source_name, bool check_inputs);

}  // namespace zbuild::graph::detail
