// zbuild-worker: runs tasks for a daemon.
#include <cstdio>
#include <exception>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/signals.h"
#include "common/address.h"
#include "common/log.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
  using namespace zbuild;
  const cli::CommandSpec& spec = cli::worker_spec();
  int exit = 0;
  auto args = cli::read_command_line(spec, argc, argv, 1, &exit);
  if (!args) return exit;
  worker::WorkerOptions o;
  o.daemon = daemon_address_from(args->get("--daemon"));
  o.work_dir = args->get("--work-dir");
  o.task_dir = args->get("--task-dir");
  o.id = args->get("--id");
  o.curve_key = args->get("--curve-key");
  o.daemon_key = args->get("--daemon-key");
  o.sandbox = args->get("--sandbox", "auto");
  if (o.sandbox != "auto" && o.sandbox != "bwrap" && o.sandbox != "none") {
    std::fprintf(stderr, "zbuild-worker: --sandbox takes auto, bwrap or none\n");
    return 2;
  }
  o.allow_programs = args->multi("--allow-program");
  o.allow_any_program = args->has("--allow-any-program");
  o.allow_options = args->multi("--allow-option");
  o.toolchain_dirs = args->multi("--toolchain-dir");
  for (auto& d : o.toolchain_dirs) {
    if (d.empty() || d[0] != '/') {
      std::fprintf(stderr, "zbuild-worker: --toolchain-dir takes an absolute folder, not '%s'\n", d.c_str());
      return 2;
    }
  }
  if (args->values.count("--memory-limit-mb")) {
    auto v = cli::to_int("--memory-limit-mb", args->get("--memory-limit-mb"));
    if (!v.ok() || v.value() < 0) {
      std::fprintf(stderr, "zbuild-worker: --memory-limit-mb takes a number of MiB (0: none)\n");
      return 2;
    }
    o.memory_limit_mb = v.value();
  }
  for (auto [opt, dst] : {std::pair{"--heartbeat-ms", &o.heartbeat_ms}, std::pair{"--liveness-ms", &o.liveness_ms}}) {
    if (args->values.count(opt)) {
      auto v = cli::to_int(opt, args->get(opt));
      if (!v.ok() || v.value() <= 0) {
        std::fprintf(stderr, "zbuild-worker: %s must be a positive number\n", opt);
        return 2;
      }
      *dst = v.value();
    }
  }
  if (args->values.count("--prefetch")) {
    auto v = cli::to_int("--prefetch", args->get("--prefetch"));
    if (!v.ok() || v.value() < 0 || v.value() > 4) {
      std::fprintf(stderr, "zbuild-worker: --prefetch must be between 0 and 4\n");
      return 2;
    }
    o.prefetch = v.value();
  }
  if (args->values.count("--slots")) {
    auto v = cli::to_int("--slots", args->get("--slots"));
    if (!v.ok() || v.value() <= 0 || v.value() > 1024) {
      std::fprintf(stderr, "zbuild-worker: --slots must be between 1 and 1024\n");
      return 2;
    }
    o.slots = v.value();
  }
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
