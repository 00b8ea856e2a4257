// zbuild daemon
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/signals.h"
#include "common/log.h"
#include "common/text.h"
#include "daemon/daemon.h"
#include "daemon/launcher.h"
#include "store/store.h"
#include "worker/worker.h"

namespace zbuild::cli {

static const char* kDaemonHelp =
    "usage: zbuild daemon [--listen HOST:PORT] [--store DIR|redis://HOST:PORT[/DB]|redis+unix://PATH]\n"
    "                     [--store-max-size SIZE]\n"
    "                     [--heartbeat-ms N] [--liveness-ms N] [--max-attempts N]\n"
    "                     [--ready-file FILE] [--insecure] [--verify-rate P] [--verbose]\n"
    "                     [--workspace DIR] [--local-workers N] [--idle-exit SECONDS]\n"
    "                     [--local-slots N] [--local-worker-args ARGS]\n"
    "                     [--launch CMD] [--min-workers N] [--max-workers N]\n"
    "                     [--max-pending N] [--release-after SECONDS]\n"
    "\n"
    "Runs the scheduler and the cache.\n"
    "  --listen HOST:PORT   where the daemon listens (see below)\n"
    "  --store DIR|redis://HOST:PORT[/DB]|redis+unix://PATH[?db=DB]  the cache (default: see\n"
    "                       below; redis+unix: Redis on a Unix socket)\n"
    "  --store-max-size SIZE  cap of the cache's size (see below)\n"
    "  --heartbeat-ms N     how often workers are pinged (default 1000)\n"
    "  --liveness-ms N      a worker silent this long is lost and its tasks requeued\n"
    "                       (default 3000)\n"
    "  --max-attempts N     a task fails after N attempts that failed on the worker's side\n"
    "                       (timeout, toolchain mismatch, sandbox or transfer error; default\n"
    "                       3); a lost worker's tasks are retried apart from these\n"
    "  --ready-file FILE    written once the sockets are bound, with the address (HOST:PORT, the\n"
    "                       real port when --listen gave 0), for scripts and tests\n"
    "  --insecure           allow plain TCP on a non-loopback address without keys (below)\n"
    "  --verbose            debug logging\n"
    "\n"
    "HOST:PORT (default 127.0.0.1:7600, or $ZBUILD_DAEMON)\n"
    "names the daemon: PORT takes workers, PORT+1 results, PORT+2 clients. PORT 0 (e.g.\n"
    "127.0.0.1:0): the daemon binds a free block itself (in local mode, below, a number no daemon\n"
    "of the user holds) and names the real port in its 'daemon listening on HOST:PORT' line, the\n"
    "--ready-file and the workspace file. On a loopback\n"
    "address without keys the daemon is private to its user: it binds no TCP port, only Unix\n"
    "sockets in an owner-only folder (/run/user/UID/zbuild-sockets/PORT, else\n"
    "/tmp/zbuild-sockets-UID/PORT) where the user's workers, clients and zbuild-cc find it; a\n"
    "second daemon on the same address is refused. With keys it binds TCP with CurveZMQ; any\n"
    "non-loopback address needs keys or --insecure (plain TCP, anyone who can reach it may\n"
    "run commands on the workers). The store defaults to\n"
    "$XDG_CACHE_HOME/zbuild/store (else ~/.cache/zbuild/store), a RocksDB directory; a store\n"
    "folder another user could write or swap (it, or a folder above it) is refused.\n"
    "--store-max-size SIZE (e.g. 500M, 2G; K, M, G, T are powers of 1024) caps the bytes of the\n"
    "cache (keys and values of blobs and action results): least recently used entries are evicted.\n"
    "Default: no cap. A Redis store evicts by the server's maxmemory / allkeys-lru instead.\n"
    "On a full disk the daemon stops caching and keeps building (zbuild status shows write_error).\n"
    "\n"
    "Security (CurveZMQ, docs/security.md):\n"
    "  --curve-key FILE     the daemon's secret key (zbuild keygen): every socket is encrypted\n"
    "  --allow-workers FILE public keys of the workers allowed in (one per line)\n"
    "  --allow-clients FILE public keys of the clients allowed in; both re-read on SIGHUP\n"
    "  --verify-rate P      run a fraction P (0..1) of cache-miss actions on two different\n"
    "                       workers and compare their outputs before caching; a mismatch fails\n"
    "                       the task naming both workers, nothing is cached, and a worker with\n"
    "                       3 mismatches gets no more work (zbuild status shows the counts)\n"
    "\n"
    "Runner mode (zbuild-cc, docs/runner.md):\n"
    "  --workspace DIR      write DIR/.zbuild-daemon naming this daemon while it runs; zbuild-cc\n"
    "                       under DIR finds it there (without --listen: 127.0.0.1:0, a free port).\n"
    "                       One daemon per user and workspace: a second is refused, naming the\n"
    "                       first's address. Without --store each workspace has its own store,\n"
    "                       ~/.cache/zbuild/workspaces/NAME-HASH\n"
    "  --local-workers N    start N local zbuild-workers (1 slot each) and stop them on exit\n"
    "  --local-slots N      run N task slots in the daemon's own process: a worker on a thread\n"
    "                       of the daemon, joined through in-process endpoints (no socket, no\n"
    "                       ZeroMQ I/O thread, no process between them), tasks queued\n"
    "                       beyond the slots as zbuild-worker's --prefetch; sandboxed as\n"
    "                       zbuild-worker's tasks are. The daemon refuses to run when they\n"
    "                       cannot start (no bubblewrap: give --local-worker-args '--sandbox none')\n"
    "  --local-worker-args ARGS  zbuild-worker options for the local slots, split at spaces\n"
    "                       (e.g. '--sandbox none --allow-program make'); not --daemon, --slots\n"
    "                       or the key options\n"
    "  --idle-exit S        exit after S seconds with no client, no build and no busy worker\n"
    "Launching workers (SprayCC's policy):\n"
    "  --launch CMD         start workers with the shell command CMD, e.g. 'srun -n1 zbuild-worker';\n"
    "                       {daemon} and {id} are replaced by the daemon's address and the worker's\n"
    "                       id; without {daemon} ' --daemon ADDR' is appended, without {id} ' --id ID'\n"
    "                       (Slurm, LSF and PBS templates: docs/runner.md)\n"
    "  --min-workers N      always keep N launched (default 0)\n"
    "  --max-workers N      launch at most N (default: with srun, sbatch or salloc the cluster's\n"
    "                       CPUs from 'sinfo -h -o %C', else 4)\n"
    "  --max-pending N      at most N launched and not yet joined (default 2)\n"
    "  --release-after S    stop a launched worker idle for S seconds (default 60; 0: never, a\n"
    "                       worker keeps its slot until the daemon stops)\n";

// --workspace, --local-workers, --idle-exit and the --launch family. 0 when fine, else the
// exit code (the message is printed).
static int runner_mode_options(const Args& args, daemon::DaemonOptions& o) {
  auto number = [&](const char* opt, int64_t* dst, int64_t scale, int64_t min) -> bool {
    if (!args.values.count(opt)) return true;
    auto v = to_int(opt, args.get(opt));
    if (!v.ok() || v.value() < min) {
      std::fprintf(stderr, "zbuild daemon: %s must be a number >= %lld\n", opt, static_cast<long long>(min));
      return false;
    }
    *dst = int64_t{v.value()} * scale;
    return true;
  };
  int64_t local = 0, min_w = 0, max_w = daemon::kDefaultMaxWorkers, pending = 2, release_s = 60, idle_s = 0;
  if (!number("--local-workers", &local, 1, 1) || !number("--min-workers", &min_w, 1, 0) ||
      !number("--max-workers", &max_w, 1, 1) || !number("--max-pending", &pending, 1, 1) ||
      !number("--release-after", &release_s, 1, 0) || !number("--idle-exit", &idle_s, 1, 0)) {
    return 2;
  }
  if (args.values.count("--local-workers") && args.values.count("--launch")) {
    std::fprintf(stderr, "zbuild daemon: give --local-workers or --launch, not both\n");
    return 2;
  }
  if (args.values.count("--workspace")) {
    std::error_code ec;
    auto dir = std::filesystem::absolute(args.get("--workspace"), ec).lexically_normal();
    if (ec || !std::filesystem::is_directory(dir)) {
      std::fprintf(stderr, "zbuild daemon: --workspace %s is not a directory\n", args.get("--workspace").c_str());
      return 2;
    }
    o.workspace = dir.string();
    while (o.workspace.size() > 1 && o.workspace.back() == '/') o.workspace.pop_back();
    // A workspace daemon needs no fixed address: zbuild-cc reads it from the workspace file.
    if (!args.values.count("--listen")) o.listen = "127.0.0.1:0";
  }
  o.idle_exit_ms = idle_s * 1000;
  if (local > 0) {
    // exec: no shell stays between zbuild-launch and the worker (dash does not exec a last
    // command); zbuild-launch, which the daemon waits for, ends once the worker has.
    o.launch.command = "exec " + daemon::sibling_worker_path() + " --slots 1";
    o.launch.min_workers = o.launch.max_workers = static_cast<int>(local);
    o.launch.release_after_ms = 0;
    o.launch.id_prefix = "local";
  } else if (args.values.count("--launch")) {
    o.launch.command = args.get("--launch");
    if (!args.values.count("--max-workers")) {
      std::string note;
      max_w = daemon::default_max_workers(o.launch.command, daemon::real_command_output(), &note);
      std::fprintf(stderr, "zbuild daemon: --max-workers %lld: %s\n", static_cast<long long>(max_w), note.c_str());
    }
    o.launch.min_workers = static_cast<int>(min_w);
    o.launch.max_workers = static_cast<int>(std::max(max_w, min_w));
    o.launch.max_pending = static_cast<int>(pending);
    o.launch.release_after_ms = release_s * 1000;
  } else if (args.values.count("--min-workers") || args.values.count("--max-workers") ||
             args.values.count("--release-after") || args.values.count("--max-pending")) {
    std::fprintf(stderr, "zbuild daemon: --min-workers, --max-workers, --max-pending and --release-after need --launch\n");
    return 2;
  }
  return 0;
}

// The daemon's loop drives the worker's slots (worker::LocalWorker) through this.
class SteppedSlots final : public daemon::OwnSlots {
 public:
  explicit SteppedSlots(std::unique_ptr<worker::LocalWorker> w) : w_(std::move(w)) {}
  void step() override { w_->step(); }

 private:
  std::unique_ptr<worker::LocalWorker> w_;
};

// --local-slots and --local-worker-args: a worker in the daemon's process (DaemonOptions::
// local_slots). 0 when fine, else the exit code (the message is printed).
static int local_slot_options(const Args& args, daemon::DaemonOptions& o) {
  if (!args.values.count("--local-slots")) {
    if (args.values.count("--local-worker-args")) {
      std::fprintf(stderr, "zbuild daemon: --local-worker-args needs --local-slots\n");
      return 2;
    }
    return 0;
  }
  auto n = to_int("--local-slots", args.get("--local-slots"));
  if (!n.ok() || n.value() < 1 || n.value() > 1024) {
    std::fprintf(stderr, "zbuild daemon: --local-slots must be between 1 and 1024\n");
    return 2;
  }
  std::vector<std::string> words = {"zbuild-worker"};
  const std::string text = args.get("--local-worker-args");
  for (auto w : split(text, ' ')) {
    if (!w.empty()) words.emplace_back(w);
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  int exit = 0;
  auto wargs = read_command_line(worker_spec(), static_cast<int>(words.size()), argv.data(), 1, &exit);
  if (!wargs) return exit == 0 ? 2 : exit;
  for (const char* opt : {"--daemon", "--slots", "--curve-key", "--daemon-key"}) {
    if (wargs->values.count(opt)) {
      std::fprintf(stderr, "zbuild daemon: --local-worker-args: %s does not apply to the daemon's own slots\n", opt);
      return 2;
    }
  }
  worker::WorkerOptions w;
  if (int rc = worker_options(*wargs, w); rc != 0) return rc;
  w.slots = static_cast<int>(n.value());
  if (w.id.empty()) w.id = "local-slots";
  o.local_slots = [w](zmq::context_t& ctx, const std::string& inproc) -> Result<std::unique_ptr<daemon::OwnSlots>> {
    worker::WorkerOptions run = w;
    run.context = &ctx;
    run.inproc = inproc;
    auto started = worker::start_local_worker(run);
    if (!started.ok()) return started.error();
    return std::unique_ptr<daemon::OwnSlots>(std::make_unique<SteppedSlots>(std::move(started.value())));
  };
  return 0;
}

const CommandSpec& daemon_spec() {
  static const CommandSpec spec{"daemon", kDaemonHelp};
  return spec;
}

// Every connection a peer opens holds one of the daemon's descriptors until ZeroMQ drops it
// (a CURVE handshake that never comes: after the handshake interval), and nothing in ZeroMQ caps
// how many it accepts; running out fails the store and new connections, and aborts the process
// in libzmq's IPC listener (docs/security.md). So the daemon takes the whole open-files limit it
// is given, up to 2^20 (as container runtimes set): running out then takes that many connections.
// Returns what it says at start.
static std::string take_open_files_limit() {
  rlimit r {};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return "open files: limit unknown";
  const rlim_t want = r.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : std::min<rlim_t>(r.rlim_max, rlim_t{1} << 20);
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < want) {
    rlimit raised{want, r.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      return "open files: " + std::to_string(want) + " (raised from " + std::to_string(r.rlim_cur) + ")";
    }
  }
  return "open files: " + (r.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : std::to_string(r.rlim_cur));
}

int cmd_daemon(int argc, char** argv) {
  int exit = 0;
  auto args = read_command_line(daemon_spec(), argc, argv, 2, &exit);
  if (!args) return exit;
  daemon::DaemonOptions o;
  o.listen = daemon_address(args->get("--listen"));
  o.store = args->get("--store");
  if (args->values.count("--store-max-size")) {
    auto size = store::parse_byte_size(args->get("--store-max-size"));
    if (!size.ok() || size.value() == 0) {
      std::fprintf(stderr, "zbuild daemon: --store-max-size: %s\n",
                   size.ok() ? "must be more than 0" : size.error().message.c_str());
      return 2;
    }
    if (store::is_redis_spec(o.store)) {
      std::fprintf(stderr, "zbuild daemon: --store-max-size does not apply to Redis; set the server's maxmemory "
                           "and maxmemory-policy allkeys-lru (docs/store-format.md)\n");
      return 2;
    }
    o.store_max_bytes = size.value();
  }
  o.insecure = args->has("--insecure");
  o.ready_file = args->get("--ready-file");
  o.curve_secret = args->get("--curve-key");
  o.allow_workers = args->get("--allow-workers");
  o.allow_clients = args->get("--allow-clients");
  o.reload = install_reload_signal();
  for (auto [opt, dst] : {std::pair{"--heartbeat-ms", &o.heartbeat_ms}, std::pair{"--liveness-ms", &o.liveness_ms}}) {
    if (args->values.count(opt)) {
      auto v = to_int(opt, args->get(opt));
      if (!v.ok() || v.value() <= 0) {
        std::fprintf(stderr, "zbuild daemon: %s must be a positive number\n", opt);
        return 2;
      }
      *dst = v.value();
    }
  }
  if (args->values.count("--max-attempts")) {
    auto v = to_int("--max-attempts", args->get("--max-attempts"));
    if (!v.ok() || v.value() <= 0) {
      std::fprintf(stderr, "zbuild daemon: --max-attempts must be a positive number\n");
      return 2;
    }
    o.max_attempts = v.value();
  }
  if (args->values.count("--verify-rate")) {
    char* end = nullptr;
    std::string v = args->get("--verify-rate");
    double p = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(p >= 0.0 && p <= 1.0)) {
      std::fprintf(stderr, "zbuild daemon: --verify-rate takes a fraction between 0 and 1, not '%s'\n", v.c_str());
      return 2;
    }
    o.verify_rate = p;
  }
  if (int rc = runner_mode_options(*args, o)) return rc;
  if (int rc = local_slot_options(*args, o)) return rc;
  log::init("daemon", args->has("--verbose") ? log::Level::debug : log::Level::info);
  log::info(take_open_files_limit());
  const auto& stop = install_stop_signals();
  auto r = daemon::run_daemon(o, stop);
  if (!r.ok()) {
    std::fprintf(stderr, "zbuild daemon: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace zbuild::cli
