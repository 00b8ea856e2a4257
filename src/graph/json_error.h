// The message for JSON text that does not parse, placed for a reader: "FILE:LINE:COL: invalid
// JSON: REASON", from nlohmann's parse_error (its byte count and its what()). Shared by the
// graph reader and the graph importers; keeps nlohmann out of the header.
#pragma once

#include <cstddef>
#include <string>

namespace zbuild::graph {

std::string json_parse_error(const std::string& source_name, const std::string& text, size_t byte,
                             const std::string& what);

}  // namespace zbuild::graph
