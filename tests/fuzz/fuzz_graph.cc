// libFuzzer target: graph.json text (both formats) through parsing and validation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "graph/graph.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto g = zbuild::graph::parse_graph(text, "fuzz.json", "/nonexistent-fuzz-root", /*check_inputs=*/false);
  if (g.ok()) (void)zbuild::graph::topological_order(g.value());
  return 0;
}
