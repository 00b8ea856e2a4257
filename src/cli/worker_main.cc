// zbuild-worker: runs tasks for a daemon.
#include <cstdio>
#include <exception>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/signals.h"
#include "common/log.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
  using namespace zbuild;
  const cli::CommandSpec& spec = cli::worker_spec();
  int exit = 0;
  auto args = cli::read_command_line(spec, argc, argv, 1, &exit);
  if (!args) return exit;
  worker::WorkerOptions o;
  if (int rc = cli::worker_options(*args, o); rc != 0) return rc;
  log::init("worker", args->has("--verbose") ? log::Level::debug : log::Level::info);
  const auto& stop = cli::install_stop_signals();
  try {
    auto r = worker::run_worker(o, stop);
    if (!r.ok()) {
      std::fprintf(stderr, "zbuild-worker: %s\n", r.error().message.c_str());
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zbuild-worker: fatal: %s\n", e.what());
    return 3;
  }
  return 0;
}
