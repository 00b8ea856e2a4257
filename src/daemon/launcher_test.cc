// The worker launch policy with a fake clock and a fake process table: no process is started.
#include <signal.h>

#include <catch2/catch.hpp>
#include <set>

#include "daemon/launcher.h"

using namespace zbuild;
using namespace zbuild::daemon;

namespace {

class FakeProcs final : public ProcessControl {
 public:
  Result<int> start(const std::string& cmd) override {
    if (fail_start) return make_error("no shell");
    int pid = next_pid++;
    commands[pid] = cmd;
    alive.insert(pid);
    return pid;
  }
  void signal(int pid, int sig) override {
    signals.emplace_back(pid, sig);
    if (alive.count(pid) && ((sig == SIGTERM && exit_on_term) || sig == SIGKILL)) exit(pid);
  }
  std::vector<std::pair<int, int>> reap() override {
    std::vector<std::pair<int, int>> out;
    for (int pid : exited) out.emplace_back(pid, 0);
    exited.clear();
    return out;
  }
  void exit(int pid) {
    alive.erase(pid);
    exited.push_back(pid);
  }
  // The worker id a launch was given (the token after --id).
  std::string id_of(int pid) {
    const std::string& c = commands[pid];
    return c.substr(c.rfind(' ') + 1);
  }

  int next_pid = 100;
  bool fail_start = false;
  bool exit_on_term = false;   // SIGTERM ends a process (SIGKILL always does)
  std::map<int, std::string> commands;
  std::set<int> alive;
  std::vector<int> exited;
  std::vector<std::pair<int, int>> signals;
};

struct Rig {
  FakeClock clock{1000};
  FakeProcs procs;
  Registry registry{clock, 3000};
  std::unique_ptr<Launcher> launcher;

  explicit Rig(LaunchPolicy p) { launcher = std::make_unique<Launcher>(clock, procs, p, "127.0.0.1:7600"); }
  ~Rig() {
    for (int pid : std::set<int>(procs.alive)) procs.exit(pid);
    launcher.reset();
  }
  void join(int pid) { registry.hello("r" + std::to_string(pid), procs.id_of(pid), "h", "linux", 1); }
  WorkerRec& worker(int pid) { return *registry.find("r" + std::to_string(pid)); }
};

using Signals = std::vector<std::pair<int, int>>;

LaunchPolicy policy(int min, int max) {
  LaunchPolicy p;
  p.command = "srun -n1 zbuild-worker";
  p.min_workers = min;
  p.max_workers = max;
  p.max_pending = 2;
  p.release_after_ms = 30000;
  return p;
}

}  // namespace

TEST_CASE("launch command: address and id appended, or substituted") {
  Rig r(policy(0, 1));
  CHECK(r.launcher->command_for("launch-1") == "srun -n1 zbuild-worker --daemon 127.0.0.1:7600 --id launch-1");
  LaunchPolicy p = policy(0, 1);
  p.command = "ssh build7 zbuild-worker --daemon={daemon} --id {id} --slots 8";
  Rig s(p);
  CHECK(s.launcher->command_for("w-2") == "ssh build7 zbuild-worker --daemon=127.0.0.1:7600 --id w-2 --slots 8");
}

TEST_CASE("the minimum is launched at once, more only while work waits, within the caps") {
  Rig r(policy(1, 4));
  r.launcher->tick(0, r.registry);
  CHECK(r.procs.commands.size() == 1);
  r.launcher->tick(0, r.registry);
  CHECK(r.procs.commands.size() == 1);   // nothing waits: no more
  // Five tasks wait: at most max_pending launches are outstanding at a time.
  r.launcher->tick(5, r.registry);
  CHECK(r.procs.commands.size() == 2);   // 1 pending already + 1 = max_pending 2
  r.join(100);
  r.join(101);
  r.launcher->tick(5, r.registry);
  CHECK(r.procs.commands.size() == 4);   // two more pending
  r.join(102);
  r.join(103);
  r.launcher->tick(5, r.registry);
  CHECK(r.procs.commands.size() == 4);   // max_workers reached
  CHECK(r.launcher->counters().joined == 4);
}

TEST_CASE("idle workers are released after the delay, down to the minimum") {
  Rig r(policy(1, 3));
  r.launcher->tick(3, r.registry);
  REQUIRE(r.procs.commands.size() == 2);
  r.join(100);
  r.join(101);
  r.launcher->tick(1, r.registry);
  REQUIRE(r.procs.commands.size() == 3);
  r.join(102);
  r.worker(100).running.insert(7);   // busy: never released
  r.launcher->tick(0, r.registry);
  r.clock.advance(29000);
  r.launcher->tick(0, r.registry);
  CHECK(r.procs.signals.empty());
  r.clock.advance(1000);
  r.launcher->tick(0, r.registry);
  REQUIRE(r.procs.signals.size() == 1);
  CHECK(r.procs.signals[0].second == SIGTERM);
  int first = r.procs.signals[0].first;
  CHECK(first != 100);
  r.launcher->tick(0, r.registry);   // one per tick
  REQUIRE(r.procs.signals.size() == 2);
  int second = r.procs.signals[1].first;
  CHECK(second != 100);
  CHECK(second != first);
  r.clock.advance(60000);
  r.worker(100).running.clear();
  r.launcher->tick(0, r.registry);   // 100 is the minimum now: kept (no SIGTERM)
  CHECK(std::count(r.procs.signals.begin(), r.procs.signals.end(), std::make_pair(100, int{SIGTERM})) == 0);
  // A released launch that does not exit gets SIGKILL after 10 s; one that exits is forgotten.
  CHECK(std::count(r.procs.signals.begin(), r.procs.signals.end(), std::make_pair(first, int{SIGKILL})) == 1);
  r.procs.exit(first);
  r.procs.exit(second);
  r.launcher->tick(0, r.registry);
  CHECK(r.launcher->launched() == 1);
  CHECK(r.launcher->counters().released == 2);
}

TEST_CASE("work arriving resets the idle clock") {
  Rig r(policy(0, 2));
  r.launcher->tick(1, r.registry);
  r.join(100);
  r.clock.advance(20000);
  r.launcher->tick(1, r.registry);   // work waits: busy
  r.clock.advance(20000);
  r.launcher->tick(0, r.registry);
  CHECK(r.procs.signals.empty());
  r.clock.advance(10000);
  r.launcher->tick(0, r.registry);
  CHECK(r.procs.signals.size() == 1);
}

TEST_CASE("a launch command that keeps failing backs off") {
  Rig r(policy(1, 1));
  r.launcher->tick(0, r.registry);
  REQUIRE(r.procs.commands.size() == 1);
  r.procs.exit(100);   // exited without joining
  r.launcher->tick(0, r.registry);
  CHECK(r.procs.commands.size() == 1);   // backing off
  CHECK(r.launcher->counters().failed == 1);
  r.clock.advance(1000);
  r.launcher->tick(0, r.registry);
  CHECK(r.procs.commands.size() == 2);
  r.procs.exit(101);
  r.launcher->tick(0, r.registry);
  r.clock.advance(1000);
  r.launcher->tick(0, r.registry);
  CHECK(r.procs.commands.size() == 2);   // 2 s now
  r.clock.advance(1000);
  r.launcher->tick(0, r.registry);
  CHECK(r.procs.commands.size() == 3);
  r.procs.fail_start = true;   // the shell itself cannot start: counted, backed off too
  r.procs.exit(102);
  r.launcher->tick(0, r.registry);
  CHECK(r.launcher->counters().failed == 3);
  r.clock.advance(4000);
  r.launcher->tick(0, r.registry);
  CHECK(r.launcher->counters().failed == 4);
  r.launcher->tick(0, r.registry);
  CHECK(r.launcher->counters().failed == 4);
}

TEST_CASE("idle watch") {
  FakeClock c(0);
  IdleWatch w(c, 5000);
  c.advance(4999);
  CHECK_FALSE(w.expired());
  w.activity();
  c.advance(4999);
  CHECK_FALSE(w.expired());
  c.advance(1);
  CHECK(w.expired());
  IdleWatch never(c, 0);
  c.advance(1000000);
  CHECK_FALSE(never.expired());
}

TEST_CASE("stop_all: workers that exit on SIGTERM are not killed, and nothing waits") {
  Rig r(policy(2, 2));
  r.launcher->tick(0, r.registry);
  REQUIRE(r.launcher->launched() == 2);
  r.procs.exit_on_term = true;
  r.launcher->stop_all(5000);
  CHECK(r.launcher->launched() == 0);
  const Signals want{{100, SIGTERM}, {101, SIGTERM}};
  CHECK(r.procs.signals == want);
  CHECK(r.clock.slept_ms() == 0);
}

TEST_CASE("stop_all: workers still there after the grace period are killed") {
  Rig r(policy(2, 2));
  r.launcher->tick(0, r.registry);
  REQUIRE(r.launcher->launched() == 2);
  r.launcher->stop_all(5000);   // SIGTERM ignored: waits out the grace on the fake clock
  CHECK(r.launcher->launched() == 0);
  const Signals want{{100, SIGTERM}, {101, SIGTERM}, {100, SIGKILL}, {101, SIGKILL}};
  CHECK(r.procs.signals == want);
  CHECK(r.clock.slept_ms() == 5000);
  CHECK(r.procs.alive.empty());
}

TEST_CASE("stop_all: a worker that already exited is reaped, not killed") {
  Rig r(policy(2, 2));
  r.launcher->tick(0, r.registry);
  REQUIRE(r.launcher->launched() == 2);
  r.procs.exit(100);   // exited on its own, not reaped yet
  r.launcher->stop_all(1000);
  const Signals want{{100, SIGTERM}, {101, SIGTERM}, {101, SIGKILL}};
  CHECK(r.procs.signals == want);
  CHECK(r.clock.slept_ms() == 1000);
}
