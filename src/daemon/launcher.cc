#include "daemon/launcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "common/fs.h"
#include "common/log.h"
#include "common/subprocess.h"

namespace zbuild::daemon {

namespace {

constexpr int64_t kKillAfterMs = 10000;
constexpr int64_t kMaxBackoffMs = 60000;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

// ---- PosixProcessControl ----

Result<int> PosixProcessControl::start(const std::string& shell_command) {
  // start_detached rather than run_process: the command outlives this call (it is reaped by
  // reap()), in its own process group, so a release signals the whole command. Through
  // zbuild-launch when it is beside this program (daemon/launch_guard.cc): the launch then
  // ends when every process it started has, not when its shell does (a shell need not exec
  // its last command, and a command may leave others running).
  static const std::string guard = [] {
    std::string p = sibling_program("zbuild-launch");
    if (p.find('/') == std::string::npos) {
      log::warn("zbuild-launch was not found beside zbuild: a launched command counts as ended when its shell "
                "does, and the daemon's stop waits for no more");
      return std::string();
    }
    return p;
  }();
  auto pid = guard.empty() ? start_detached(shell_command) : start_detached({guard, shell_command}, {}, false);
  if (!pid.ok()) return pid.error();
  pids_.push_back(pid.value());
  return pid.value();
}

void PosixProcessControl::signal(int pid, int sig) {
  if (pid > 0) ::kill(-pid, sig);
}

std::vector<std::pair<int, int>> PosixProcessControl::reap() {
  std::vector<std::pair<int, int>> out;
  for (auto it = pids_.begin(); it != pids_.end();) {
    int status = 0;
    pid_t r = ::waitpid(*it, &status, WNOHANG);
    if (r == *it || (r < 0 && errno == ECHILD)) {
      out.emplace_back(*it, status);
      it = pids_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

// ---- Launcher ----

Launcher::Launcher(const Clock& clock, ProcessControl& procs, LaunchPolicy policy, std::string daemon_address)
    : clock_(clock), procs_(procs), policy_(std::move(policy)), address_(std::move(daemon_address)) {
  policy_.max_workers = std::max(policy_.max_workers, policy_.min_workers);
  policy_.max_pending = std::max(policy_.max_pending, 1);
}

Launcher::~Launcher() { stop_all(); }

std::string launch_command(const std::string& tmpl, const std::string& address, const std::string& id) {
  std::string cmd = replace_all(replace_all(tmpl, "{daemon}", address), "{id}", id);
  if (tmpl.find("{daemon}") == std::string::npos) cmd += " --daemon " + address;
  if (tmpl.find("{id}") == std::string::npos) cmd += " --id " + id;
  return cmd;
}

std::string Launcher::command_for(const std::string& id) const { return launch_command(policy_.command, address_, id); }

std::optional<int> parse_sinfo_cpus(const std::string& out) {
  std::optional<int> best;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    // ALLOCATED/IDLE/OTHER/TOTAL, nothing else on the line.
    long long f[4];
    char tail = 0;
    if (std::sscanf(line.c_str(), " %lld/%lld/%lld/%lld %c", &f[0], &f[1], &f[2], &f[3], &tail) != 4) continue;
    if (f[3] <= 0 || f[3] > 1000000) continue;
    if (!best || f[3] > *best) best = static_cast<int>(f[3]);
  }
  return best;
}

int default_max_workers(const std::string& tmpl, const CommandOutput& run, std::string* note) {
  std::istringstream words(tmpl);
  std::string first;
  while (words >> first && first.find('=') != std::string::npos) {
  }
  std::string program = std::filesystem::path(first).filename().string();
  if (program != "srun" && program != "sbatch" && program != "salloc") {
    if (note) *note = "the default (" + std::to_string(kDefaultMaxWorkers) + ")";
    return kDefaultMaxWorkers;
  }
  auto out = run({"sinfo", "-h", "-o", "%C"});
  std::optional<int> cpus;
  if (out.ok()) cpus = parse_sinfo_cpus(out.value());
  if (!cpus) {
    if (note) {
      *note = "the default (" + std::to_string(kDefaultMaxWorkers) + "): sinfo -h -o %C " +
              (out.ok() ? "printed no CPU counts" : "failed: " + out.error().message);
    }
    return kDefaultMaxWorkers;
  }
  if (note) *note = "the cluster's " + std::to_string(*cpus) + " CPUs (sinfo -h -o %C)";
  return *cpus;
}

CommandOutput real_command_output() {
  return [](const std::vector<std::string>& argv) -> Result<std::string> {
    ProcessSpec spec;
    spec.argv = argv;
    spec.timeout_ms = 10000;
    spec.output_cap = 1 << 20;
    auto r = run_process(spec);
    if (!r.ok()) return make_error(r.error().message);
    if (r->timed_out) return make_error(argv[0] + " timed out");
    if (r->exit_code != 0) return make_error(argv[0] + " exited with code " + std::to_string(r->exit_code));
    return r->out;
  };
}

void Launcher::launch_one() {
  std::string id = policy_.id_prefix + "-" + std::to_string(++seq_);
  std::string cmd = command_for(id);
  auto pid = procs_.start(cmd);
  int64_t now = clock_.now_ms();
  if (!pid.ok()) {
    log::warn("launch of worker " + id + " failed: " + pid.error().message);
    counters_.failed++;
    next_launch_ms_ = now + std::min(kMaxBackoffMs, int64_t{1000} << std::min(++failures_in_a_row_, 6));
    return;
  }
  Launch l;
  l.pid = pid.value();
  l.id = id;
  l.started_ms = now;
  l.idle_since_ms = now;
  launches_[l.pid] = l;
  counters_.launched++;
  log::info("launched worker " + id + " (pid " + std::to_string(l.pid) + "): " + cmd);
}

void Launcher::tick(size_t ready, const Registry& registry) {
  if (policy_.command.empty()) return;
  int64_t now = clock_.now_ms();
  for (auto& [pid, status] : procs_.reap()) {
    auto it = launches_.find(pid);
    if (it == launches_.end()) continue;
    const Launch& l = it->second;
    if (l.released_ms) {
      log::info("worker " + l.id + " released (" + describe_status(status) + ")");
    } else if (!l.joined) {
      counters_.failed++;
      int64_t backoff = std::min(kMaxBackoffMs, int64_t{1000} << std::min(failures_in_a_row_++, 6));
      next_launch_ms_ = now + backoff;
      log::warn("launched worker " + l.id + " exited without joining (" + describe_status(status) +
                "); next launch in " + std::to_string(backoff / 1000) + " s");
    } else {
      log::info("launched worker " + l.id + " exited (" + describe_status(status) + ")");
    }
    launches_.erase(it);
  }
  // Who joined, who is busy.
  std::map<std::string, const WorkerRec*> by_id;
  for (auto& [_, w] : registry.workers()) by_id[w.id] = &w;
  size_t pending = 0, active = 0;
  for (auto& [_, l] : launches_) {
    auto w = by_id.find(l.id);
    l.present = w != by_id.end();
    if (l.present && !l.joined) {
      l.joined = true;
      failures_in_a_row_ = 0;
      counters_.joined++;
      log::info("launched worker " + l.id + " joined after " + std::to_string(now - l.started_ms) + " ms");
    }
    if (l.present && (!w->second->running.empty() || ready > 0)) l.idle_since_ms = now;
    if (l.released_ms) {
      if (now - l.released_ms >= kKillAfterMs) procs_.signal(l.pid, SIGKILL);
      continue;
    }
    ++active;
    if (!l.present) ++pending;
  }
  // Grow.
  while (now >= next_launch_ms_ && static_cast<int>(active) < policy_.max_workers &&
         (static_cast<int>(active) < policy_.min_workers ||
          (ready > pending && static_cast<int>(pending) < policy_.max_pending))) {
    size_t before = launches_.size();
    launch_one();
    if (launches_.size() == before) break;
    ++active;
    ++pending;
  }
  // Shrink: one idle worker per tick.
  if (policy_.release_after_ms <= 0 || ready > 0 || static_cast<int>(active) <= policy_.min_workers) return;
  for (auto& [_, l] : launches_) {
    if (l.released_ms || !l.present || now - l.idle_since_ms < policy_.release_after_ms) continue;
    log::info("releasing worker " + l.id + ": idle for " + std::to_string((now - l.idle_since_ms) / 1000) + " s");
    procs_.signal(l.pid, SIGTERM);
    l.released_ms = now;
    counters_.released++;
    break;
  }
}

void Launcher::stop_all(int64_t grace_ms) {
  if (launches_.empty()) return;
  for (auto& [pid, _] : launches_) procs_.signal(pid, SIGTERM);
  Deadline grace(clock_, grace_ms);
  while (!launches_.empty() && !grace.expired()) {
    for (auto& [pid, _] : procs_.reap()) launches_.erase(pid);
    if (!launches_.empty()) clock_.sleep_ms(20);
  }
  for (auto& [pid, _] : launches_) procs_.signal(pid, SIGKILL);
  Deadline killed(clock_, 1000);
  while (!launches_.empty() && !killed.expired()) {
    for (auto& [pid, _] : procs_.reap()) launches_.erase(pid);
    if (!launches_.empty()) clock_.sleep_ms(10);
  }
  launches_.clear();
}

WorkspaceFile::~WorkspaceFile() {
  if (!written_) return;
  auto mine = read_file(path());
  if (mine.ok() && mine.value() == address_ + "\n") ::unlink(path().c_str());
}

Status WorkspaceFile::write() {
  if (dir_.empty()) return {};
  auto w = write_file_atomic(path(), address_ + "\n");
  if (!w.ok()) return make_error("workspace file: " + w.error().message);
  written_ = true;
  log::info("workspace " + dir_ + ": wrote " + path());
  return {};
}

std::string sibling_worker_path() { return sibling_program("zbuild-worker"); }

}  // namespace zbuild::daemon
