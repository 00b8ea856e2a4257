// zbuild keygen
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/commands.h"
#include "proto/security.h"

namespace zbuild::cli {

static const char* kKeygenHelp =
    "usage: zbuild keygen [--dir DIR] NAME\n"
    "\n"
    "Writes a CurveZMQ key pair: DIR/NAME.key (the secret, readable by its owner only) and\n"
    "DIR/NAME.pub (the public key, Z85). Give the daemon its .key with --curve-key, put the\n"
    "workers' and clients' .pub lines in the daemon's --allow-workers / --allow-clients files,\n"
    "and give every worker and client the daemon's .pub with --daemon-key.\n"
    "\n"
    "  --dir DIR   where to write the two files (default: the current directory)\n";

const CommandSpec& keygen_spec() {
  static const CommandSpec spec{"keygen", kKeygenHelp};
  return spec;
}

int cmd_keygen(int argc, char** argv) {
  int exit = 0;
  auto args = read_command_line(keygen_spec(), argc, argv, 2, &exit);
  if (!args) return exit;
  if (args->positional.size() != 1) return usage_error(keygen_spec(), "expected one NAME");
  std::string dir = args->get("--dir", ".");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto kp = proto::generate_keypair();
  if (!kp.ok()) {
    std::fprintf(stderr, "zbuild keygen: %s\n", kp.error().message.c_str());
    return 1;
  }
  auto w = proto::write_keypair(dir, args->positional[0], kp.value());
  if (!w.ok()) {
    std::fprintf(stderr, "zbuild keygen: %s\n", w.error().message.c_str());
    return 1;
  }
  std::printf("%s/%s.key (secret) and %s/%s.pub: %s\n", dir.c_str(), args->positional[0].c_str(), dir.c_str(),
              args->positional[0].c_str(), kp.value().public_z85.c_str());
  return 0;
}

}  // namespace zbuild::cli
