#include "client/local_slot.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "client/connection.h"
#include "common/clock.h"
#include "common/command_policy.h"
#include "common/subprocess.h"

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
  std::vector<std::string> args = {sibling_program("zbuild-worker"), "--daemon", daemon.str(), "--slots",
                                   std::to_string(slots), "--id", id, "--allow-any-program"};
  auto pid = start_detached(args, {"ZBUILD_PRIVATE_FOR=" + s->secret_}, true);
  if (!pid.ok()) {
    *why = pid.error().message;
    return nullptr;
  }
  s->pid_ = pid.value();
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
