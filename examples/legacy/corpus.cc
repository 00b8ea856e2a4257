#include "util.h"

namespace legacy {

const std::string& sample_text() {
  static const std::string text =
      "The build starts with a graph, and the graph lists every task.\n"
      "Each task reads its inputs and writes its outputs;\n"
      "a task that reads the output of another task waits for it.\n"
      "When the inputs are unchanged, the cached outputs are reused,\n"
      "and the build finishes before the coffee is ready.\n";
  return text;
}

}  // namespace legacy
