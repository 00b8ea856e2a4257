// zbuild-cc: the compiler launcher (runner mode); the work is in src/runner/.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "runner/runner.h"

int main(int argc, char** argv) {
  try {
    int rc = zbuild::runner::run_zbuild_cc(argc, argv);
    // Nothing left to do but free memory the kernel frees anyway (zbuild-cc runs once per
    // compile): stdio is flushed and the process ends without running destructors.
    std::fflush(nullptr);
    std::_Exit(rc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zbuild-cc: fatal: %s\n", e.what());
    return 3;
  }
}
