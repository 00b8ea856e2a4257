// zbuild-cc: the compiler launcher (runner mode). Invoked in place of the compiler — as
// `zbuild-cc COMPILER ARGS...`, or through a link named gcc/g++/cc/c++/clang/clang++ — it
// sends a single-source C/C++ compile to the daemon as a build of one task and behaves exactly
// as the local compile would: stdout, stderr, exit code, the object and the depfile. Anything
// else runs the real compiler in place (exec), unchanged. See docs/runner.md.
#pragma once

namespace zbuild::runner {

int run_zbuild_cc(int argc, char** argv);
// What `zbuild-cc --help` prints (help_test.cc checks it names every ZBUILD_* variable read).
const char* help_text();

}  // namespace zbuild::runner
