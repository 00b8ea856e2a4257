#include "client/local_slot.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "client/connection.h"
#include "common/clock.h"
#include "common/command_policy.h"

extern char** environ;

namespace zbuild::client {

std::vector<std::string> programs_no_worker_runs(const std::string& status_json,
                                                 const std::vector<std::vector<std::string>>& argvs) {
  auto j = nlohmann::json::parse(status_json, nullptr, false);
  std::vector<std::string> missing;
  if (j.is_discarded() || !j.contains("workers") || !j["workers"].is_array()) return missing;
  for (const auto& argv : argvs) {
    if (argv.empty() || cmd::toolchain_program(argv[0])) continue;
    bool someone = false;
    for (const auto& w : j["workers"]) {
      std::vector<std::string> programs;
      if (w.contains("programs") && w["programs"].is_array()) {
        for (const auto& p : w["programs"]) {
          if (p.is_string()) programs.push_back(p.get<std::string>());
        }
      }
      bool any = w.contains("any_program") && w["any_program"].is_boolean() && w["any_program"].get<bool>();
      if (cmd::program_allowed_by(argv[0], programs, any)) someone = true;
    }
    if (!someone && std::find(missing.begin(), missing.end(), argv[0]) == missing.end()) missing.push_back(argv[0]);
  }
  return missing;
}

namespace {

std::string worker_binary() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto w = self.parent_path() / "zbuild-worker";
    if (::access(w.c_str(), X_OK) == 0) return w.string();
  }
  return "zbuild-worker";
}

std::string random_hex(size_t bytes) {
  std::random_device rd;
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    out.push_back(hex[v >> 4]);
    out.push_back(hex[v & 15]);
  }
  return out;
}

}  // namespace

std::unique_ptr<LocalSlot> LocalSlot::start(const Address& daemon, int slots, DaemonConnection& conn, std::string* why) {
  std::unique_ptr<LocalSlot> s(new LocalSlot());
  s->secret_ = random_hex(16);
  std::string id = "local-" + std::to_string(::getpid()) + "-" + random_hex(3);
  std::vector<std::string> args = {worker_binary(), "--daemon", daemon.str(), "--slots", std::to_string(slots),
                                   "--id", id, "--allow-any-program"};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "ZBUILD_PRIVATE_FOR=", 19) != 0) env.emplace_back(*e);
  }
  env.push_back("ZBUILD_PRIVATE_FOR=" + s->secret_);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  int rc = ::posix_spawnp(&s->pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    s->pid_ = -1;
    *why = std::string("cannot start ") + args[0] + ": " + std::strerror(rc);
    return nullptr;
  }
  // Joined when the daemon lists it.
  const Clock& clock = steady_clock();
  Deadline deadline(clock, 20000);
  while (!deadline.expired()) {
    int status = 0;
    if (::waitpid(s->pid_, &status, WNOHANG) == s->pid_) {
      s->pid_ = -1;
      *why = "the local worker exited at start (is bubblewrap usable here?)";
      return nullptr;
    }
    auto st = conn.ping(3000);
    if (st.ok() && st.value().find("\"" + id + "\"") != std::string::npos) return s;
    clock.sleep_ms(20);
  }
  *why = "the local worker did not join within 20 s";
  return nullptr;
}

LocalSlot::~LocalSlot() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

}  // namespace zbuild::client
