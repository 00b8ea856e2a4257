// zbuild-daemon: the daemon, as `zbuild daemon` runs it (zbuild_main.cc execs this program with
// its own arguments: "zbuild daemon OPTIONS"). Run directly, `zbuild-daemon OPTIONS` is the same.
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  if (argc < 2 || std::strcmp(argv[1], "daemon") != 0) args.insert(args.begin() + 1, const_cast<char*>("daemon"));
  args.push_back(nullptr);
  try {
    return zbuild::cli::cmd_daemon(static_cast<int>(args.size()) - 1, args.data());
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "zbuild: fatal: %s\n", ex.what());
    return 3;
  }
}
