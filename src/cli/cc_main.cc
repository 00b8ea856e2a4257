// zbuild-cc: the compiler launcher (runner mode); the work is in src/runner/.
#include <cstdio>
#include <exception>

#include "runner/runner.h"

int main(int argc, char** argv) {
  try {
    return zbuild::runner::run_zbuild_cc(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zbuild-cc: fatal: %s\n", e.what());
    return 3;
  }
}
