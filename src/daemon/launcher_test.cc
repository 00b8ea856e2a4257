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
  // `ms` pass, then the launcher looks at a build with `waiting` tasks ready.
  void tick_after(int64_t ms, int waiting = 0) {
    clock.advance(ms);
    launcher->tick(waiting, registry);
  }
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

TEST_CASE("launch command: {id} and {daemon} each substituted, what is missing appended") {
  const std::string a = "127.0.0.1:7600";
  // Only {daemon}: the id is still given.
  CHECK(launch_command("zbuild-worker --daemon {daemon} --slots 1", a, "launch-3") ==
        "zbuild-worker --daemon 127.0.0.1:7600 --slots 1 --id launch-3");
  // Only {id}: the address is appended.
  CHECK(launch_command("srun -n1 -J zb-{id} zbuild-worker --id {id}", a, "launch-4") ==
        "srun -n1 -J zb-launch-4 zbuild-worker --id launch-4 --daemon 127.0.0.1:7600");
  // Every occurrence is replaced.
  CHECK(launch_command("w --daemon {daemon} --id {id} # {id}@{daemon}", a, "x") ==
        "w --daemon 127.0.0.1:7600 --id x # x@127.0.0.1:7600");
}

// The templates of docs/runner.md, as the launcher runs them (LSF and PBS are not installed
// here: the command line is what is checked).
TEST_CASE("launch command: the documented Slurm, LSF and PBS templates") {
  const std::string a = "10.0.0.5:7600";
  CHECK(launch_command("srun -n1 -c1 zbuild-worker --slots 1", a, "launch-1") ==
        "srun -n1 -c1 zbuild-worker --slots 1 --daemon 10.0.0.5:7600 --id launch-1");
  CHECK(launch_command("srun -n1 -c4 -J zbuild-{id} zbuild-worker --slots 4 --daemon {daemon} --id {id}", a,
                       "launch-2") ==
        "srun -n1 -c4 -J zbuild-launch-2 zbuild-worker --slots 4 --daemon 10.0.0.5:7600 --id launch-2");
  CHECK(launch_command("bsub -K -o /dev/null -n 1 zbuild-worker --slots 1", a, "launch-3") ==
        "bsub -K -o /dev/null -n 1 zbuild-worker --slots 1 --daemon 10.0.0.5:7600 --id launch-3");
  CHECK(launch_command("bsub -K -o /dev/null -J {id} zbuild-worker --slots 1 --daemon {daemon} --id {id}", a,
                       "launch-4") ==
        "bsub -K -o /dev/null -J launch-4 zbuild-worker --slots 1 --daemon 10.0.0.5:7600 --id launch-4");
  CHECK(launch_command("echo 'zbuild-worker --slots 1 --daemon {daemon} --id {id}' | qsub -W block=true -N {id} "
                       "-l select=1:ncpus=1 -o /dev/null -e /dev/null",
                       a, "launch-5") ==
        "echo 'zbuild-worker --slots 1 --daemon 10.0.0.5:7600 --id launch-5' | qsub -W block=true -N launch-5 "
        "-l select=1:ncpus=1 -o /dev/null -e /dev/null");
  CHECK(launch_command("qsub -W block=true -l select=1:ncpus=1 -o /dev/null -e /dev/null -- "
                       "/usr/bin/zbuild-worker --slots 1",
                       a, "launch-6") ==
        "qsub -W block=true -l select=1:ncpus=1 -o /dev/null -e /dev/null -- /usr/bin/zbuild-worker --slots 1 "
        "--daemon 10.0.0.5:7600 --id launch-6");
}

TEST_CASE("sinfo output: the cluster's CPUs") {
  CHECK(parse_sinfo_cpus("0/64/0/64\n") == 64);
  CHECK(parse_sinfo_cpus("12/20/0/32\n4/4/0/8\n") == 32);   // partitions: the largest
  CHECK(parse_sinfo_cpus("  3/1/0/4  \n") == 4);
  CHECK_FALSE(parse_sinfo_cpus("").has_value());
  CHECK_FALSE(parse_sinfo_cpus("sinfo: error: Unable to contact slurm controller\n").has_value());
  CHECK_FALSE(parse_sinfo_cpus("0/0/0/0\n").has_value());
  CHECK_FALSE(parse_sinfo_cpus("1/2/3/4 extra\n").has_value());
}

TEST_CASE("default --max-workers: the Slurm cluster's CPUs, else the constant") {
  std::vector<std::vector<std::string>> ran;
  std::string out = "0/48/0/48\n";
  bool fail = false;
  CommandOutput run = [&](const std::vector<std::string>& argv) -> Result<std::string> {
    ran.push_back(argv);
    if (fail) return make_error("sinfo: not found");
    return out;
  };
  std::string note;
  CHECK(default_max_workers("srun -n1 -c1 zbuild-worker --slots 1", run, &note) == 48);
  REQUIRE(ran.size() == 1);
  CHECK(ran[0] == std::vector<std::string>{"sinfo", "-h", "-o", "%C"});
  CHECK(note.find("48 CPUs") != std::string::npos);
  CHECK(default_max_workers("SLURM_CONF=/etc/s.conf /usr/bin/srun -n1 zbuild-worker", run, &note) == 48);
  CHECK(ran.size() == 2);
  // Not Slurm: nothing is run.
  CHECK(default_max_workers("bsub -K -o /dev/null zbuild-worker", run, &note) == kDefaultMaxWorkers);
  CHECK(default_max_workers("ssh build7 zbuild-worker", run, &note) == kDefaultMaxWorkers);
  CHECK(ran.size() == 2);
  // Slurm that cannot tell: the constant, and the note says why.
  fail = true;
  CHECK(default_max_workers("srun zbuild-worker", run, &note) == kDefaultMaxWorkers);
  CHECK(note.find("not found") != std::string::npos);
  fail = false;
  out = "garbage\n";
  CHECK(default_max_workers("srun zbuild-worker", run, &note) == kDefaultMaxWorkers);
}

TEST_CASE("--release-after 0: a launched worker keeps its slot for the whole build") {
  LaunchPolicy p = policy(0, 2);
  p.release_after_ms = 0;
  Rig r(p);
  r.launcher->tick(2, r.registry);
  REQUIRE(r.procs.commands.size() == 2);
  r.join(100);
  r.join(101);
  r.worker(100).running.insert(1);
  r.launcher->tick(1, r.registry);
  r.worker(100).running.clear();
  // Idle for a day, nothing waiting: neither is released.
  for (int hour = 0; hour < 24; ++hour) {
    r.tick_after(3600 * 1000);
  }
  CHECK(r.procs.signals.empty());
  CHECK(r.launcher->counters().released == 0);
  CHECK(r.launcher->launched() == 2);
  CHECK(r.procs.commands.size() == 2);   // and none relaunched
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
  r.tick_after(29000);
  CHECK(r.procs.signals.empty());
  r.tick_after(1000);
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
  r.tick_after(20000, 1);   // work waits: busy
  r.tick_after(20000);
  CHECK(r.procs.signals.empty());
  r.tick_after(10000);
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
  r.tick_after(1000);
  CHECK(r.procs.commands.size() == 2);
  r.procs.exit(101);
  r.launcher->tick(0, r.registry);
  r.tick_after(1000);
  CHECK(r.procs.commands.size() == 2);   // 2 s now
  r.tick_after(1000);
  CHECK(r.procs.commands.size() == 3);
  r.procs.fail_start = true;   // the shell itself cannot start: counted, backed off too
  r.procs.exit(102);
  r.launcher->tick(0, r.registry);
  CHECK(r.launcher->counters().failed == 3);
  r.tick_after(4000);
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
