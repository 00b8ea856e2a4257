// Scheduler unit tests: the scheduler is driven through a fake SchedulerHost and a FakeClock.
// No sockets, no processes, no sleeps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "daemon/registry.h"
#include "daemon/scheduler.h"
#include "proto/action.h"

using namespace zbuild;
using namespace zbuild::daemon;

namespace {

struct Sent {
  std::string route;
  std::string worker_id;
  uint64_t gid = 0;
  int attempt = 0;
  uint64_t build_id = 0;
  uint32_t index = 0;
  std::string id;
  Digest key;
  ActionSpec action;
};

struct Event {
  uint64_t build_id = 0;
  uint32_t index = 0;
  std::string id;
  TaskState state = TaskState::Waiting;
  std::string message;
  std::string infra_error;
};

struct Finished {
  uint64_t build_id = 0;
  bool ok = false;
  std::vector<TaskState> states;
  std::vector<std::string> messages;   // t.message, or the outcome's infra error when set
};

class FakeHost : public SchedulerHost {
 public:
  std::vector<Sent> sent;
  std::vector<Event> events;
  std::vector<Finished> done;
  std::map<Digest, Outcome> cache;
  std::map<std::string, int64_t> durations;
  std::map<std::string, int64_t> recorded;
  std::set<std::string> unreachable;          // routes whose send_task fails
  std::vector<Digest> lookups;                // every key the cache was asked about
  std::vector<std::string> violations;        // invariant breaches seen at send time
  std::map<std::pair<uint64_t, uint32_t>, TaskState> state;   // last reported state
  std::vector<std::string> accepted_ids;      // accepted() calls, in order
  size_t events_before_accept = 0;            // events already sent when the last accepted() came

  void accepted(const TaskRec& t, const Outcome&) override {
    accepted_ids.push_back(t.id);
    events_before_accept = events.size();
  }

  bool send_task(const WorkerRec& w, const TaskRec& t) override {
    for (uint32_t d : t.deps) {
      auto it = state.find({t.build_id, d});
      if (it == state.end() || (it->second != TaskState::Done && it->second != TaskState::Cached)) {
        violations.push_back("task '" + t.id + "' sent before dependency " + std::to_string(d) + " finished");
      }
    }
    if (t.state != TaskState::Running) violations.push_back("task '" + t.id + "' sent while not running");
    if (unreachable.count(w.route)) return false;
    sent.push_back(Sent{w.route, w.id, t.gid, t.attempts, t.build_id, t.index, t.id, t.key, t.action});
    return true;
  }
  void task_event(const Build& b, const TaskRec& t) override {
    events.push_back(Event{b.id, t.index, t.id, t.state, t.message, t.outcome.infra_error});
    state[{b.id, t.index}] = t.state;
  }
  void build_done(const Build& b) override {
    Finished f;
    f.build_id = b.id;
    f.ok = !b.failed;
    for (auto& t : b.tasks) {
      f.states.push_back(t.state);
      f.messages.push_back(t.outcome.infra_error.empty() ? t.message : t.outcome.infra_error);
    }
    done.push_back(std::move(f));
  }
  std::optional<Outcome> cache_lookup(const Digest& key, const std::vector<std::string>&) override {
    lookups.push_back(key);
    auto it = cache.find(key);
    if (it == cache.end()) return std::nullopt;
    return it->second;
  }
  std::optional<int64_t> duration_lookup(const std::string& key) override {
    auto it = durations.find(key);
    if (it == durations.end()) return std::nullopt;
    return it->second;
  }
  void duration_record(const std::string& key, int64_t ms) override { recorded[key] = ms; }
  std::map<std::string, std::string> estimator_store;
  std::optional<std::string> estimator_lookup(const std::string& key) override {
    auto it = estimator_store.find(key);
    if (it == estimator_store.end()) return std::nullopt;
    return it->second;
  }
  void estimator_record(const std::string& key, const std::string& value) override { estimator_store[key] = value; }

  size_t sends_of(const std::string& id) const {
    return static_cast<size_t>(std::count_if(sent.begin(), sent.end(), [&](const Sent& s) { return s.id == id; }));
  }
  std::vector<std::string> sent_ids() const {
    std::vector<std::string> ids;
    for (auto& s : sent) ids.push_back(s.id);
    return ids;
  }
  const Finished* finished(uint64_t build_id) const {
    for (auto& f : done) {
      if (f.build_id == build_id) return &f;
    }
    return nullptr;
  }
  size_t done_count(uint64_t build_id) const {
    return static_cast<size_t>(
        std::count_if(done.begin(), done.end(), [&](const Finished& f) { return f.build_id == build_id; }));
  }
};

NewTask task(const std::string& id, std::vector<uint32_t> deps = {}, std::vector<std::string> outputs = {}) {
  NewTask t;
  t.id = id;
  t.action.argv = {"tool", id};
  t.action.root = "/src";
  t.action.outputs = std::move(outputs);
  t.deps = std::move(deps);
  return t;
}

InputSpec source_input(const std::string& path, const std::string& content) {
  InputSpec in;
  in.path = path;
  in.digest = digest_bytes(content);
  return in;
}

InputSpec generated_input(const std::string& path, uint32_t producer_index) {
  InputSpec in;
  in.path = path;
  in.producer = producer_index + 1;
  return in;
}

// The key the scheduler computes for an action whose inputs are all resolved.
Digest key_of(ActionSpec a) {
  std::sort(a.inputs.begin(), a.inputs.end(), [](const InputSpec& x, const InputSpec& y) { return x.path < y.path; });
  return action_key(a);
}

Outcome cached_outcome(const ActionSpec& a) {
  Outcome o;
  o.exit_code = 0;
  o.worker = "cache";
  for (auto& p : a.outputs) o.outputs.push_back(OutputSpec{p, digest_bytes("content of " + p), false});
  return o;
}

struct Rig {
  FakeClock clock;
  Registry registry;
  FakeHost host;
  Scheduler sched;

  explicit Rig(int max_attempts = 3, int64_t liveness_ms = 10000)
      : registry(clock, liveness_ms), sched(clock, registry, host, max_attempts) {}

  void add_worker(const std::string& route, const std::string& id, int slots, int credit) {
    auto orphans = registry.hello(route, id, "host-" + id, "linux-x86_64", slots);
    REQUIRE(orphans.empty());
    registry.find(route)->credit = credit;
    registry.find(route)->any_program = true;   // the tests' commands are "tool ..."
  }
  // w1 ("one") and w2 ("two"), one slot each.
  void add_two_workers() {
    add_worker("w1", "one", 1, 1);
    add_worker("w2", "two", 1, 1);
  }
  // The worker at `route` leaves (removed from the registry, its tasks given back).
  void lose(const std::string& route, const std::string& why = "lost") {
    auto gone = registry.remove(route);
    REQUIRE(gone);
    sched.on_worker_lost(*gone, why);
  }
  void give_credit(const std::string& route, int n) {
    if (auto* w = registry.find(route)) w->credit = std::min(w->credit + n, w->slots);
  }

  Result<uint64_t> add(std::vector<NewTask> tasks, bool keep_going = false) {
    return sched.add_build("client", 7, "test", std::move(tasks), keep_going);
  }
  uint64_t submit(std::vector<NewTask> tasks, bool keep_going = false) {
    auto r = add(std::move(tasks), keep_going);
    REQUIRE(r.ok());
    sched.start_build(r.value());
    sched.dispatch();
    return r.value();
  }

  Outcome success(const Sent& s, int64_t ms = 100) const {
    Outcome o;
    o.exit_code = 0;
    o.worker = s.worker_id;
    o.duration_ms = ms;
    for (auto& p : s.action.outputs) o.outputs.push_back(OutputSpec{p, digest_bytes("content of " + p), false});
    return o;
  }
  Outcome failure(const Sent& s, int code = 1) const {
    Outcome o;
    o.exit_code = code;
    o.worker = s.worker_id;
    o.err = "error: boom";
    return o;
  }
  Outcome infra(const Sent& s, const std::string& why = "sandbox setup failed") const {
    Outcome o;
    o.exit_code = -1;
    o.worker = s.worker_id;
    o.infra_error = why;
    return o;
  }

  // The worker reports a result and, as a real worker does, grants its slot back.
  void complete(const Sent& s, Outcome o) {
    sched.on_result(s.route, s.gid, s.attempt, std::move(o));
    give_credit(s.route, 1);
    sched.dispatch();
  }
  // Completes every sent task successfully, in send order, until nothing is outstanding.
  void run_all() {
    for (size_t next = 0; next < host.sent.size(); ++next) {
      Sent s = host.sent[next];
      complete(s, success(s));
    }
  }
  // The `i`th dispatch, which went to `route`.
  Sent sent_to(const std::string& route, size_t i = 0) {
    Sent s = host.sent.at(i);
    REQUIRE(s.route == route);
    return s;
  }
  // Runs everything sent and expects build `id` to have succeeded.
  void run_all_expect_ok(uint64_t id) {
    run_all();
    REQUIRE(host.finished(id)->ok);
  }
};

}  // namespace

// ---------------------------------------------------------------- topological order

TEST_CASE("diamond graph runs in dependency order and finishes") {
  Rig r;
  r.add_worker("w1", "one", 4, 4);
  r.add_worker("w2", "two", 4, 4);
  //   a -> b, a -> c, {b, c} -> d
  uint64_t id = r.submit({task("a"), task("b", {0}), task("c", {0}), task("d", {1, 2})});
  REQUIRE(r.host.sent_ids() == std::vector<std::string>{"a"});
  Sent a = r.host.sent[0];
  r.complete(a, r.success(a));
  REQUIRE(r.host.sent.size() == 3u);   // b and c together, d still waiting
  REQUIRE(r.host.sends_of("d") == 0u);
  // Finish c before b: d must wait for both.
  Sent b = r.host.sent[1], c = r.host.sent[2];
  if (b.id == "c") std::swap(b, c);
  r.complete(c, r.success(c));
  REQUIRE(r.host.sends_of("d") == 0u);
  r.complete(b, r.success(b));
  REQUIRE(r.host.sends_of("d") == 1u);
  r.run_all();
  REQUIRE(r.host.violations.empty());
  REQUIRE(r.host.done.size() == 1u);
  const Finished* f = r.host.finished(id);
  REQUIRE(f);
  REQUIRE(f->ok);
  for (auto s : f->states) REQUIRE(s == TaskState::Done);
  REQUIRE(r.sched.builds().empty());
  REQUIRE(r.sched.counters().executed == 4u);
  REQUIRE(r.sched.running_count() == 0u);
}

TEST_CASE("a wide random-ish DAG never dispatches a task before its dependencies") {
  Rig r;
  r.add_worker("w1", "one", 3, 3);
  r.add_worker("w2", "two", 2, 2);
  std::vector<NewTask> tasks;
  const uint32_t n = 60;
  for (uint32_t i = 0; i < n; ++i) {
    std::vector<uint32_t> deps;
    if (i >= 1 && i % 3 != 0) deps.push_back(i - 1);
    if (i >= 7) deps.push_back((i * 7) % i);
    if (i >= 11 && i % 2 == 0) deps.push_back(i / 2);
    tasks.push_back(task("t" + std::to_string(i), deps));
  }
  uint64_t id = r.submit(std::move(tasks));
  // Complete the most recently sent task first (LIFO), to shake the order up.
  std::vector<Sent> outstanding = r.host.sent;
  size_t seen = r.host.sent.size();
  while (!outstanding.empty()) {
    Sent s = outstanding.back();
    outstanding.pop_back();
    r.complete(s, r.success(s));
    for (; seen < r.host.sent.size(); ++seen) outstanding.push_back(r.host.sent[seen]);
  }
  REQUIRE(r.host.violations.empty());
  REQUIRE(r.host.sent.size() == n);
  REQUIRE(r.host.done_count(id) == 1u);
  REQUIRE(r.host.finished(id)->ok);
}

// ---------------------------------------------------------------- priority

TEST_CASE("longest remaining path goes first") {
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  // Short independent tasks come first in the build (lower ids: FIFO would pick them).
  std::vector<NewTask> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(task("short" + std::to_string(i)));
  uint32_t head = static_cast<uint32_t>(tasks.size());
  tasks.push_back(task("chain0"));
  for (uint32_t i = 1; i < 4; ++i) tasks.push_back(task("chain" + std::to_string(i), {head + i - 1}));
  r.submit(std::move(tasks));
  REQUIRE(r.host.sent_ids() == std::vector<std::string>{"chain0"});   // only one slot
  REQUIRE(r.sched.ready_count() == 5u);
  r.run_all();
  auto ids = r.host.sent_ids();
  REQUIRE(ids.size() == 9u);
  // chain1 (1500 ms remaining) and chain2 (1000) beat the 500 ms short tasks.
  REQUIRE(ids[1] == "chain1");
  REQUIRE(ids[2] == "chain2");
  REQUIRE(r.host.violations.empty());
  REQUIRE(r.host.done.size() == 1u);
}

TEST_CASE("ties keep submission order") {
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  r.submit({task("x"), task("y"), task("z")});
  r.run_all();
  REQUIRE(r.host.sent_ids() == std::vector<std::string>{"x", "y", "z"});
}

TEST_CASE("remembered durations change the order") {
  SECTION("a slow independent task overtakes a chain head") {
    Rig r;
    r.add_worker("w1", "one", 1, 1);
    NewTask slow = task("slow", {}, {"slow.o"});
    r.host.durations[Scheduler::duration_key(slow.action)] = 60000;
    r.submit({task("chain0"), task("chain1", {0}), task("chain2", {1}), slow});
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"slow"});
  }
  SECTION("without the memory the chain head goes first") {
    Rig r;
    r.add_worker("w1", "one", 1, 1);
    r.submit({task("chain0"), task("chain1", {0}), task("chain2", {1}), task("slow", {}, {"slow.o"})});
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"chain0"});
  }
  SECTION("a remembered fast task yields to a default estimate") {
    Rig r;
    r.add_worker("w1", "one", 1, 1);
    NewTask fast = task("fast");
    r.host.durations[Scheduler::duration_key(fast.action)] = 3;
    r.submit({fast, task("other")});
    r.run_all();
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"other", "fast"});
  }
  SECTION("durations are recorded for executed tasks") {
    Rig r;
    r.add_worker("w1", "one", 1, 1);
    NewTask t = task("t", {}, {"t.o"});
    std::string key = Scheduler::duration_key(t.action);
    r.submit({t});
    Sent s = r.host.sent.at(0);
    r.complete(s, r.success(s, 4321));
    REQUIRE(r.host.recorded.at(key) == 4321);
  }
}

TEST_CASE("default estimates tell compiles, links and other tools apart") {
  ActionSpec compile;
  compile.argv = {"/usr/bin/g++", "-c", "a.cc", "-o", "a.o"};
  ActionSpec link;
  link.argv = {"/usr/bin/g++", "a.o", "-o", "a"};
  ActionSpec other;
  other.argv = {"python3", "gen.py"};
  REQUIRE(Scheduler::default_estimate_ms(compile) == 1000);
  REQUIRE(Scheduler::default_estimate_ms(link) == 2000);
  REQUIRE(Scheduler::default_estimate_ms(other) == 500);
  REQUIRE(Scheduler::duration_key(compile) != Scheduler::duration_key(link));
}

// ---------------------------------------------------------------- estimates

namespace {

// A compile of `src` (`bytes` bytes of source) into `obj`: gcc -c, with the source as input.
NewTask compile_task(const std::string& id, size_t bytes, std::vector<uint32_t> deps = {}) {
  NewTask t;
  t.id = id;
  t.action.argv = {"gcc", "-c", id + ".c", "-o", id + ".o"};
  t.action.root = "/src";
  t.action.inputs.push_back(source_input(id + ".c", std::string(bytes, 'x')));
  t.action.outputs = {id + ".o"};
  t.deps = std::move(deps);
  return t;
}

// A generator script (kind "other") with no sized input.
NewTask script_task(const std::string& id, std::vector<uint32_t> deps = {}) {
  NewTask t = task(id, std::move(deps), {id + ".h"});
  t.action.argv = {"python3", "gen.py", id};
  return t;
}

ActionSpec action_of(std::vector<std::string> argv, std::vector<std::string> outputs = {}) {
  ActionSpec a;
  a.argv = std::move(argv);
  a.outputs = std::move(outputs);
  return a;
}

}  // namespace

TEST_CASE("a task's kind comes from its argv and declared outputs") {
  REQUIRE(task_kind(action_of({"/usr/bin/g++", "-c", "a.cc", "-o", "a.o"})) == TaskKind::Compile);
  REQUIRE(task_kind(action_of({"x86_64-linux-gnu-gcc-12", "-S", "a.c"})) == TaskKind::Compile);
  REQUIRE(task_kind(action_of({"ar", "rcs", "lib.a", "a.o"})) == TaskKind::Archive);
  REQUIRE(task_kind(action_of({"/usr/bin/gcc-ar", "rcs", "x"})) == TaskKind::Archive);
  REQUIRE(task_kind(action_of({"ranlib", "lib.a"})) == TaskKind::Archive);
  REQUIRE(task_kind(action_of({"clang++", "a.o", "-o", "app"})) == TaskKind::Link);
  REQUIRE(task_kind(action_of({"ld.lld", "a.o"})) == TaskKind::Link);
  // Another program: its outputs say what it makes.
  REQUIRE(task_kind(action_of({"ccache-like", "x"}, {"obj/a.c.o"})) == TaskKind::Compile);
  REQUIRE(task_kind(action_of({"sh", "-c", "x"}, {"lib/librte_eal.a"})) == TaskKind::Archive);
  REQUIRE(task_kind(action_of({"sh", "-c", "x"}, {"lib/librte_eal.so.23.0"})) == TaskKind::Link);
  REQUIRE(task_kind(action_of({"sh", "-c", "x"}, {"app/dpdk-testpmd"})) == TaskKind::Link);
  REQUIRE(task_kind(action_of({"python3", "gen.py"}, {"lib/rte_eal_exports.def"})) == TaskKind::Other);
  REQUIRE(task_kind(action_of({"python3", "gen.py"})) == TaskKind::Other);
  // Only sources count towards the size: produced inputs have no size yet.
  ActionSpec a = action_of({"gcc", "-c", "a.c"});
  a.inputs = {source_input("a.c", std::string(300, 'x')), source_input("a.h", std::string(50, 'y')),
              generated_input("gen.h", 0)};
  REQUIRE(source_bytes(a) == 350u);
}

TEST_CASE("estimates by kind and size") {
  SECTION("the prior: a kind's default at the build's mean size, in proportion to size") {
    Estimator e;
    e.seed(TaskKind::Compile, 1000);
    e.seed(TaskKind::Other, 0);
    REQUIRE(e.estimate(TaskKind::Compile, 1000) == 1000);
    REQUIRE(e.estimate(TaskKind::Compile, 4000) == 4000);
    REQUIRE(e.estimate(TaskKind::Compile, 250) == 250);
    REQUIRE(e.estimate(TaskKind::Compile, 0) == 1000);   // no size: the kind's mean
    REQUIRE(e.estimate(TaskKind::Other, 5000) == 500);   // no rate for the kind: its mean
    REQUIRE(e.estimate(TaskKind::Link, 0) == 2000);      // nothing at all: the prior
    REQUIRE_FALSE(e.learned(TaskKind::Compile));
  }
  SECTION("learned rates outweigh the prior and follow the kind") {
    Estimator e;
    e.seed(TaskKind::Compile, 1000);
    for (int i = 0; i < 50; ++i) e.observe(TaskKind::Compile, 10000, 200);   // 0.02 ms per byte
    REQUIRE(e.learned(TaskKind::Compile));
    int64_t est = e.estimate(TaskKind::Compile, 50000);
    REQUIRE(est > 1000);    // mostly the learned 0.02 ms/byte: ~1000 ms, not the prior's 50 s
    REQUIRE(est < 1600);
    REQUIRE(e.estimate(TaskKind::Link, 50000) == 2000);   // links learned nothing
  }
  SECTION("old observations fade") {
    Estimator e;
    for (int i = 0; i < 1000; ++i) e.observe(TaskKind::Archive, 0, 100);
    for (int i = 0; i < 200; ++i) e.observe(TaskKind::Archive, 0, 1000);
    REQUIRE(e.estimate(TaskKind::Archive, 0) > 600);   // a plain mean would say 250
  }
  SECTION("the learned sums survive a restart; garbage is refused") {
    Estimator e;
    e.seed(TaskKind::Compile, 500);
    for (int i = 0; i < 10; ++i) e.observe(TaskKind::Compile, 3000, 600);
    Estimator f;
    REQUIRE(f.restore(TaskKind::Compile, e.serialize(TaskKind::Compile)));
    REQUIRE(f.learned(TaskKind::Compile));
    REQUIRE(f.estimate(TaskKind::Compile, 3000) == 600);   // the prior is not stored
    REQUIRE(Estimator::store_key(TaskKind::Compile) == "sched-est:v1:compile");
    for (const char* bad : {"", "1 2 3", "1 2 3 4 5", "x 1 1 1", "-1 5 5 5", "1 5 9 5", "nan 1 1 1", "0 0 0 0"}) {
      Estimator g;
      REQUIRE_FALSE(g.restore(TaskKind::Compile, bad));
      REQUIRE(g.estimate(TaskKind::Compile, 3000) == 1000);
    }
  }
}

TEST_CASE("a first build runs its largest compiles first") {
  SECTION("compiles in proportion to size around the prior; a script at its prior") {
    Rig r;
    r.add_worker("w1", "one", 4, 4);
    // Mean size 37000 bytes = 1000 ms: large ~2432 ms, medium ~541, gen 500, small ~27.
    r.submit({compile_task("small", 1000), compile_task("large", 90000), compile_task("medium", 20000),
              script_task("gen")});
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"large", "medium", "gen", "small"});
  }
  SECTION("a compile's estimate counts in the chain after it") {
    Rig r;
    r.add_worker("w1", "one", 1, 1);
    // small (~30 ms) -> link (2000 ms) is shorter than the large compile alone (~2967 ms).
    NewTask link = task("app", {0}, {"app"});
    link.action.argv = {"gcc", "small.o", "-o", "app"};
    r.submit({compile_task("small", 1000), compile_task("tiny", 100), link, compile_task("large", 100000)});
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"large"});
  }
}

TEST_CASE("online learning changes the order of waiting tasks") {
  // Compiles are estimated at the prior 1000 ms and scripts at 500 ms, so compiles go first;
  // they turn out to take 1 ms, and once that moved the compile model far enough the scripts
  // overtake the compiles still waiting.
  auto build = [] {
    std::vector<NewTask> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(compile_task("c" + std::to_string(i), 1000));
    tasks.push_back(script_task("g0"));
    tasks.push_back(script_task("g1"));
    return tasks;
  };
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  r.submit(build());
  for (size_t next = 0; next < r.host.sent.size(); ++next) {
    Sent s = r.host.sent[next];
    r.complete(s, r.success(s, s.id[0] == 'c' ? 1 : 3000));
  }
  REQUIRE(r.host.sent_ids() == std::vector<std::string>{"c0", "c1", "c2", "c3", "g0", "g1", "c4"});
  REQUIRE(r.sched.counters().reranks >= 2u);
  REQUIRE(r.sched.estimator().learned(TaskKind::Compile));
  SECTION("the next build starts from what this one learned") {
    r.submit(build());
    size_t first = 7;
    REQUIRE(r.host.sent.at(first).id == "g0");   // scripts now known to be slow, compiles fast
  }
  SECTION("and so does a restarted daemon, from the store") {
    REQUIRE(r.host.estimator_store.count(Estimator::store_key(TaskKind::Compile)) == 1u);
    Rig fresh;
    fresh.host.estimator_store = r.host.estimator_store;
    fresh.add_worker("w1", "one", 1, 1);
    fresh.submit(build());
    REQUIRE(fresh.host.sent_ids() == std::vector<std::string>{"g0"});
  }
}

TEST_CASE("remembered durations still win over estimates") {
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  NewTask big = compile_task("big", 100000);   // the estimator would put it far ahead ...
  r.host.durations[Scheduler::duration_key(big.action)] = 5;   // ... but it is known to be quick
  NewTask mid = compile_task("mid", 10000);
  r.host.durations[Scheduler::duration_key(mid.action)] = 50000;   // and this one slow
  r.submit({big, compile_task("small", 1000), mid, compile_task("other", 2000)});
  REQUIRE(r.host.sent_ids() == std::vector<std::string>{"mid"});
  // Learning that compiles are slow re-ranks the estimated ones, never the remembered.
  Sent s = r.host.sent[0];
  r.complete(s, r.success(s, 50000));
  REQUIRE(r.sched.counters().reranks >= 1u);
  r.run_all();
  REQUIRE(r.host.sent_ids() == std::vector<std::string>{"mid", "other", "small", "big"});
}

// ---------------------------------------------------------------- credit

TEST_CASE("credit decides which worker gets work") {
  SECTION("a worker with no credit gets nothing") {
    Rig r;
    r.add_worker("w1", "one", 4, 0);
    r.submit({task("a"), task("b")});
    REQUIRE(r.host.sent.empty());
    REQUIRE(r.sched.ready_count() == 2u);
    r.sched.dispatch();
    REQUIRE(r.host.sent.empty());
    r.give_credit("w1", 1);
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 1u);
    REQUIRE(r.registry.find("w1")->credit == 0);
  }
  SECTION("no workers at all: everything waits in the ready queue") {
    Rig r;
    r.submit({task("a"), task("b"), task("c", {0})});
    REQUIRE(r.host.sent.empty());
    REQUIRE(r.sched.ready_count() == 2u);
    r.add_worker("w1", "one", 8, 8);
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 2u);
  }
  SECTION("dispatch stops when credit runs out, and tasks go to workers with credit") {
    Rig r;
    r.add_worker("w1", "one", 4, 0);
    r.add_worker("w2", "two", 4, 2);
    r.submit({task("a"), task("b"), task("c"), task("d"), task("e")});
    REQUIRE(r.host.sent.size() == 2u);
    for (auto& s : r.host.sent) REQUIRE(s.route == "w2");
    REQUIRE(r.registry.find("w2")->credit == 0);
    REQUIRE(r.registry.find("w2")->running.size() == 2u);
    REQUIRE(r.sched.ready_count() == 3u);
    REQUIRE(r.sched.running_count() == 2u);
    r.give_credit("w1", 1);
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 3u);
    REQUIRE(r.host.sent[2].route == "w1");
    REQUIRE(r.sched.ready_count() == 2u);
  }
  SECTION("the worker with the most credit is preferred") {
    Rig r;
    r.add_worker("w1", "one", 4, 1);
    r.add_worker("w2", "two", 4, 3);
    r.submit({task("a")});
    REQUIRE(r.host.sent.at(0).route == "w2");
  }
}

// ---------------------------------------------------------------- cache

TEST_CASE("cache hits finish without a worker") {
  SECTION("a cached task finishes Cached and its dependents become ready") {
    Rig r;
    r.add_worker("w1", "one", 4, 4);
    NewTask a = task("a", {}, {"a.o"});
    r.host.cache[key_of(a.action)] = cached_outcome(a.action);
    uint64_t id = r.submit({a, task("b", {0})});
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"b"});
    REQUIRE(r.sched.counters().cache_hits == 1u);
    REQUIRE(r.host.state.at({id, 0}) == TaskState::Cached);
    r.run_all();
    const Finished* f = r.host.finished(id);
    REQUIRE(f);
    REQUIRE(f->ok);
    REQUIRE(f->states == std::vector<TaskState>{TaskState::Cached, TaskState::Done});
    REQUIRE(r.host.violations.empty());
  }
  SECTION("a fully cached build sends nothing and is done once") {
    Rig r;
    r.add_worker("w1", "one", 4, 4);
    NewTask gen = task("gen", {}, {"gen.h"});
    NewTask cc1 = task("cc1", {0}, {"one.o"});
    cc1.action.inputs = {source_input("one.c", "int one;"), generated_input("gen.h", 0)};
    NewTask cc2 = task("cc2", {0}, {"two.o"});
    cc2.action.inputs = {generated_input("gen.h", 0), source_input("two.c", "int two;")};
    NewTask link = task("link", {1, 2}, {"app"});
    link.action.inputs = {generated_input("one.o", 1), generated_input("two.o", 2)};
    // Cache every action under the key it has once its producers' outputs are known.
    std::vector<NewTask> tasks = {gen, cc1, cc2, link};
    std::vector<Outcome> outs;
    for (auto& t : tasks) {
      ActionSpec a = t.action;
      for (auto& in : a.inputs) {
        if (in.producer) {
          for (auto& o : outs[in.producer - 1].outputs) {
            if (o.path == in.path) in.digest = o.digest;
          }
        }
      }
      outs.push_back(cached_outcome(a));
      r.host.cache[key_of(a)] = outs.back();
    }
    uint64_t id = r.submit(tasks);
    REQUIRE(r.host.sent.empty());
    REQUIRE(r.host.done.size() == 1u);
    REQUIRE(r.host.done_count(id) == 1u);
    REQUIRE(r.host.finished(id)->ok);
    for (auto s : r.host.finished(id)->states) REQUIRE(s == TaskState::Cached);
    REQUIRE(r.sched.counters().cache_hits == 4u);
    REQUIRE(r.sched.counters().dispatched == 0u);
    REQUIRE(r.sched.builds().empty());
    r.sched.dispatch();
    REQUIRE(r.host.sent.empty());
    REQUIRE(r.host.done.size() == 1u);
  }
  SECTION("an empty build is done at once") {
    Rig r;
    uint64_t id = r.submit({});
    REQUIRE(r.host.done_count(id) == 1u);
    REQUIRE(r.host.finished(id)->ok);
  }
}

// ---------------------------------------------------------------- generated inputs

TEST_CASE("generated inputs take the producer's output digest before the key is computed") {
  auto run = [](const std::string& produced_content, Digest* key_out, ActionSpec* action_out) {
    Rig r;
    r.add_worker("w1", "one", 4, 4);
    NewTask gen = task("gen", {}, {"gen.h"});
    NewTask use = task("use", {0}, {"use.o"});
    use.action.inputs = {source_input("use.c", "#include \"gen.h\""), generated_input("gen.h", 0)};
    r.submit({gen, use});
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"gen"});
    Sent g = r.host.sent[0];
    Outcome o = r.success(g);
    o.outputs = {OutputSpec{"gen.h", digest_bytes(produced_content), true}};
    r.complete(g, o);
    REQUIRE(r.host.sent.size() == 2u);
    const Sent& u = r.host.sent[1];
    REQUIRE(u.id == "use");
    // The cache was asked about the same key that was sent.
    REQUIRE(std::find(r.host.lookups.begin(), r.host.lookups.end(), u.key) != r.host.lookups.end());
    *key_out = u.key;
    *action_out = u.action;
  };
  Digest k1, k2, k1again;
  ActionSpec a1, a2, a1again;
  run("#define X 1", &k1, &a1);
  run("#define X 2", &k2, &a2);
  run("#define X 1", &k1again, &a1again);
  REQUIRE(k1 != k2);
  REQUIRE(k1 == k1again);
  // The sent action carries the resolved digest (inputs sorted by path).
  REQUIRE(a1.inputs.size() == 2u);
  REQUIRE(a1.inputs[0].path == "gen.h");
  REQUIRE(a1.inputs[0].digest == digest_bytes("#define X 1"));
  REQUIRE(a1.inputs[0].executable);
  REQUIRE(a1.inputs[1].path == "use.c");
  // And the key is the real action key of that resolved action.
  REQUIRE(k1 == action_key(a1));
  REQUIRE(k2 == action_key(a2));
}

TEST_CASE("a generated input its producer did not report fails the consumer") {
  Rig r;
  r.add_worker("w1", "one", 4, 4);
  NewTask use = task("use", {0});
  use.action.inputs = {generated_input("gen.h", 0)};
  uint64_t id = r.submit({task("gen", {}, {"gen.h"}), use});
  Sent g = r.host.sent.at(0);
  Outcome o = r.success(g);
  o.outputs.clear();
  r.complete(g, o);
  REQUIRE(r.host.sends_of("use") == 0u);
  const Finished* f = r.host.finished(id);
  REQUIRE(f);
  REQUIRE_FALSE(f->ok);
  REQUIRE(f->states[1] == TaskState::Failed);
  REQUIRE(f->messages[1].find("gen.h") != std::string::npos);
}

TEST_CASE("a generated input named by its producer's output (produced_as) takes that output's digest") {
  const std::string as = "obj/zbuild-object-0123456789abcdef.o";
  // The producer reports its object under the name of its command; the consumer reads it as obj/x/a.o.
  auto run = [&](const std::string& produced_as, uint64_t* build, Rig& r) {
    r.add_worker("w1", "one", 4, 4);
    NewTask link = task("prog", {0}, {"prog"});
    InputSpec in = generated_input("obj/x/a.o", 0);
    in.produced_as = produced_as;
    link.action.inputs = {in};
    *build = r.submit({task("obj/x/a.o", {}, {as}), link});
    Sent g = r.host.sent.at(0);
    Outcome o = r.success(g);
    o.outputs = {OutputSpec{as, digest_bytes("object"), false}};
    r.complete(g, o);
  };
  SECTION("named as the producer wrote it") {
    Rig r;
    uint64_t id = 0;
    run(as, &id, r);
    REQUIRE(r.host.sends_of("prog") == 1u);
    const Sent& l = r.host.sent.at(1);
    REQUIRE(l.action.inputs.size() == 1u);
    CHECK(l.action.inputs[0].path == "obj/x/a.o");   // placed where the consumer reads it
    CHECK(l.action.inputs[0].digest == digest_bytes("object"));
  }
  SECTION("a name the producer did not report fails the consumer") {
    Rig r;
    uint64_t id = 0;
    run("obj/x/a.o.d", &id, r);
    REQUIRE(r.host.sends_of("prog") == 0u);
    const Finished* f = r.host.finished(id);
    REQUIRE(f);
    CHECK(f->states[1] == TaskState::Failed);
    CHECK(f->messages[1].find("obj/x/a.o.d") != std::string::npos);
  }
}

// ---------------------------------------------------------------- dedup

TEST_CASE("identical actions in flight run once") {
  SECTION("second build arrives while the first runs") {
    Rig r;
    r.add_worker("w1", "one", 4, 4);
    uint64_t b1 = r.submit({task("same", {}, {"same.o"})});
    uint64_t b2 = r.submit({task("same", {}, {"same.o"}), task("after", {0})});
    REQUIRE(r.host.sends_of("same") == 1u);
    REQUIRE(r.sched.counters().deduplicated == 1u);
    REQUIRE(r.sched.running_count() == 2u);
    Sent s = r.host.sent[0];
    REQUIRE(s.build_id == b1);
    r.complete(s, r.success(s));
    REQUIRE(r.host.done_count(b1) == 1u);
    REQUIRE(r.host.finished(b1)->ok);
    REQUIRE(r.host.state.at({b2, 0}) == TaskState::Done);
    REQUIRE(r.host.sends_of("after") == 1u);   // the follower's dependents are released
    r.run_all();
    REQUIRE(r.host.done_count(b2) == 1u);
    REQUIRE(r.host.finished(b2)->ok);
    REQUIRE(r.host.sends_of("same") == 1u);
    REQUIRE(r.host.violations.empty());
  }
  SECTION("both builds queued before dispatch") {
    Rig r;
    auto a = r.add({task("same", {}, {"same.o"})});
    auto b = r.add({task("same", {}, {"same.o"})});
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    r.sched.start_build(a.value());
    r.sched.start_build(b.value());
    r.add_worker("w1", "one", 4, 4);
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 1u);
    REQUIRE(r.sched.counters().deduplicated == 1u);
    r.run_all();
    REQUIRE(r.host.done.size() == 2u);
    REQUIRE(r.host.finished(a.value())->ok);
    REQUIRE(r.host.finished(b.value())->ok);
  }
  SECTION("a failing primary fails its followers") {
    Rig r;
    r.add_worker("w1", "one", 4, 4);
    uint64_t b1 = r.submit({task("same")});
    uint64_t b2 = r.submit({task("same")});
    r.complete(r.host.sent.at(0), r.failure(r.host.sent.at(0)));   // the one run fails
    REQUIRE(r.host.sent.size() == 1u);
    REQUIRE_FALSE(r.host.finished(b1)->ok);
    REQUIRE_FALSE(r.host.finished(b2)->ok);
    REQUIRE(r.host.finished(b2)->states[0] == TaskState::Failed);
  }
}

// ---------------------------------------------------------------- build failures

TEST_CASE("a build failure is final and skips what depends on it") {
  // bad -> mid -> top (a long chain, so 'bad' goes first), plus independent tasks.
  auto graph = [] {
    return std::vector<NewTask>{task("bad"), task("mid", {0}), task("top", {1}), task("free1"), task("free2")};
  };
  SECTION("without keep_going the rest of the build is skipped") {
    Rig r;
    r.add_worker("w1", "one", 1, 1);
    uint64_t id = r.submit(graph(), false);
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"bad"});
    Sent s = r.host.sent[0];
    r.complete(s, r.failure(s, 2));
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 1u);          // not retried, nothing else started
    REQUIRE(r.sched.counters().retries == 0u);
    REQUIRE(r.sched.counters().failed == 1u);
    const Finished* f = r.host.finished(id);
    REQUIRE(f);
    REQUIRE_FALSE(f->ok);
    REQUIRE(f->states[0] == TaskState::Failed);
    REQUIRE(f->states[1] == TaskState::Skipped);
    REQUIRE(f->states[2] == TaskState::Skipped);
    REQUIRE(f->messages[1].find("'bad'") != std::string::npos);
    REQUIRE(f->messages[2].find("'bad'") != std::string::npos);
    REQUIRE(f->messages[1].find("depends on failed") != std::string::npos);
    REQUIRE(f->states[3] == TaskState::Skipped);
    REQUIRE(f->states[4] == TaskState::Skipped);
    REQUIRE(f->messages[3].find("'bad'") != std::string::npos);
    REQUIRE(r.host.done.size() == 1u);
    REQUIRE(r.sched.builds().empty());
  }
  SECTION("with keep_going independent tasks still run") {
    Rig r;
    r.add_worker("w1", "one", 1, 1);
    uint64_t id = r.submit(graph(), true);
    Sent s = r.host.sent.at(0);
    REQUIRE(s.id == "bad");
    r.complete(s, r.failure(s));
    REQUIRE(r.host.done.empty());               // free1/free2 still to run
    r.run_all();
    REQUIRE(r.host.sends_of("bad") == 1u);
    REQUIRE(r.host.sends_of("free1") == 1u);
    REQUIRE(r.host.sends_of("free2") == 1u);
    REQUIRE(r.host.sends_of("mid") == 0u);
    REQUIRE(r.host.sends_of("top") == 0u);
    REQUIRE(r.host.done.size() == 1u);
    const Finished* f = r.host.finished(id);
    REQUIRE_FALSE(f->ok);
    REQUIRE(f->states == std::vector<TaskState>{TaskState::Failed, TaskState::Skipped, TaskState::Skipped,
                                                TaskState::Done, TaskState::Done});
    REQUIRE(f->messages[2].find("'bad'") != std::string::npos);
  }
  SECTION("tasks already running when the build stops still report, then the build is done") {
    Rig r;
    r.add_worker("w1", "one", 2, 2);
    uint64_t id = r.submit({task("bad"), task("slow"), task("later", {1})}, false);
    REQUIRE(r.host.sent.size() == 2u);
    Sent bad = r.host.sent[0].id == "bad" ? r.host.sent[0] : r.host.sent[1];
    Sent slow = r.host.sent[0].id == "bad" ? r.host.sent[1] : r.host.sent[0];
    r.complete(bad, r.failure(bad));
    REQUIRE(r.host.done.empty());
    r.complete(slow, r.success(slow));
    REQUIRE(r.host.sends_of("later") == 0u);
    REQUIRE(r.host.done_count(id) == 1u);
    const Finished* f = r.host.finished(id);
    REQUIRE(f->states == std::vector<TaskState>{TaskState::Failed, TaskState::Done, TaskState::Skipped});
  }
}

// ---------------------------------------------------------------- infrastructure failures

TEST_CASE("infrastructure failures are retried on a different worker") {
  Rig r;
  r.add_worker("w1", "one", 2, 2);
  r.add_worker("w2", "two", 2, 1);
  uint64_t id = r.submit({task("t")});
  Sent first = r.sent_to("w1");
  REQUIRE(first.attempt == 1);
  // w1 reports the failure and grants its slot back: it has more credit than w2 again.
  r.complete(first, r.infra(first));
  REQUIRE(r.sched.counters().retries == 1u);
  REQUIRE(r.host.sent.size() == 2u);
  Sent second = r.host.sent[1];
  REQUIRE(second.route == "w2");
  REQUIRE(second.attempt == 2);
  REQUIRE(second.gid == first.gid);
  r.complete(second, r.success(second));
  REQUIRE(r.host.finished(id)->ok);
}

TEST_CASE("the only worker is reused for a retry") {
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  uint64_t id = r.submit({task("t")});
  Sent first = r.host.sent.at(0);
  r.complete(first, r.infra(first));
  REQUIRE(r.host.sent.size() == 2u);
  REQUIRE(r.host.sent[1].route == "w1");
  Sent second = r.host.sent[1];
  r.complete(second, r.success(second));
  REQUIRE(r.host.finished(id)->ok);
}

TEST_CASE("infrastructure failures give up after max_attempts") {
  Rig r(3);
  r.add_two_workers();
  uint64_t id = r.submit({task("t"), task("dep", {0})});
  for (int i = 0; i < 3; ++i) {
    REQUIRE(r.host.sent.size() == static_cast<size_t>(i + 1));
    Sent s = r.host.sent.back();
    REQUIRE(s.attempt == i + 1);
    r.complete(s, r.infra(s, "disk full"));
  }
  REQUIRE(r.host.sent.size() == 3u);
  REQUIRE(r.sched.counters().retries == 2u);
  const Finished* f = r.host.finished(id);
  REQUIRE(f);
  REQUIRE_FALSE(f->ok);
  REQUIRE(f->states[0] == TaskState::Failed);
  REQUIRE(f->messages[0].find("disk full") != std::string::npos);
  REQUIRE(f->messages[0].find("gave up after 3 attempts") != std::string::npos);
  REQUIRE(f->states[1] == TaskState::Skipped);
}

TEST_CASE("an unreachable worker is dropped and its task goes elsewhere") {
  Rig r;
  r.add_worker("w1", "one", 2, 2);
  r.add_worker("w2", "two", 2, 1);
  r.host.unreachable.insert("w1");
  uint64_t id = r.submit({task("t")});
  REQUIRE(r.registry.find("w1") == nullptr);
  REQUIRE(r.host.sent.size() == 1u);
  REQUIRE(r.host.sent[0].route == "w2");
  // The send never reached w1, so it costs no attempt and is not a retry.
  REQUIRE(r.host.sent[0].attempt == 1);
  REQUIRE(r.sched.counters().retries == 0u);
  r.run_all_expect_ok(id);
}

// ---------------------------------------------------------------- lost workers

TEST_CASE("a lost worker's task is re-sent and its late result ignored") {
  SECTION("via on_worker_lost") {
    Rig r;
    r.add_two_workers();
    uint64_t id = r.submit({task("t"), task("u", {0})});
    Sent first = r.sent_to("w1");
    r.lose("w1", "worker one left");
    REQUIRE(r.sched.counters().retries == 1u);
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 2u);
    Sent second = r.host.sent[1];
    REQUIRE(second.route == "w2");
    REQUIRE(second.attempt == 2);
    // The old worker's result arrives after all: ignored.
    r.sched.on_result(first.route, first.gid, first.attempt, r.success(first));
    REQUIRE(r.sched.counters().late_results == 1u);
    REQUIRE(r.sched.find_task(first.gid)->state == TaskState::Running);
    REQUIRE(r.host.sends_of("u") == 0u);
    r.run_all_expect_ok(id);
    REQUIRE(r.sched.counters().executed == 2u);
  }
  SECTION("via registry expiry with a FakeClock") {
    Rig r(3, 5000);
    r.add_worker("w1", "one", 1, 1);
    r.add_worker("w2", "two", 1, 0);
    uint64_t id = r.submit({task("t")});
    Sent first = r.sent_to("w1");
    r.clock.advance(3000);
    r.registry.find("w2")->last_seen_ms = r.clock.now_ms();
    REQUIRE(r.registry.expire(r.clock.now_ms()).empty());
    r.clock.advance(2500);   // w1 silent for 5500 ms, w2 for 2500 ms
    r.registry.find("w2")->last_seen_ms = r.clock.now_ms();
    auto lost = r.registry.expire(r.clock.now_ms());
    REQUIRE(lost.size() == 1u);
    REQUIRE(lost[0].id == "one");
    REQUIRE(lost[0].running.count(first.gid) == 1u);
    for (auto& w : lost) r.sched.on_worker_lost(w, "worker " + w.id + " lost (no heartbeat)");
    r.give_credit("w2", 1);
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 2u);
    Sent second = r.host.sent[1];
    REQUIRE(second.route == "w2");
    // A late result from the lost worker, even for the current attempt number, is ignored.
    r.sched.on_result(first.route, first.gid, first.attempt, r.success(first));
    r.sched.on_result(first.route, first.gid, second.attempt, r.success(first));
    REQUIRE(r.sched.counters().late_results == 2u);
    r.complete(second, r.success(second));
    REQUIRE(r.host.finished(id)->ok);
    // Results for finished (forgotten) tasks are late as well.
    r.sched.on_result(second.route, second.gid, second.attempt, r.success(second));
    REQUIRE(r.sched.counters().late_results == 3u);
  }
  SECTION("a lost worker's task waits for another worker when there is none") {
    Rig r;
    r.add_worker("w1", "one", 1, 1);
    uint64_t id = r.submit({task("t")});
    r.lose("w1");
    r.sched.dispatch();   // nowhere to go
    REQUIRE(r.host.sent.size() == 1u);
    REQUIRE(r.sched.ready_count() == 1u);
    r.add_worker("w3", "three", 1, 1);
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 2u);
    r.run_all_expect_ok(id);
  }
  SECTION("a worker reconnecting under the same id gives back its tasks") {
    Rig r;
    r.add_two_workers();
    uint64_t id = r.submit({task("t")});
    Sent first = r.sent_to("w1");
    auto orphans = r.registry.hello("w1b", "one", "host-one", "linux-x86_64", 1);
    REQUIRE(orphans == std::set<uint64_t>{first.gid});
    r.sched.requeue_tasks(orphans, "worker one reconnected");
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 2u);
    REQUIRE(r.host.sent[1].route == "w2");
    r.sched.on_result(first.route, first.gid, first.attempt, r.success(first));
    REQUIRE(r.sched.counters().late_results == 1u);
    r.run_all_expect_ok(id);
  }
}

// ---------------------------------------------------------------- validation

TEST_CASE("add_build rejects bad graphs with a message") {
  Rig r;
  SECTION("a cycle") {
    auto res = r.add({task("a", {2}), task("b", {0}), task("c", {1})});
    REQUIRE_FALSE(res.ok());
    REQUIRE(res.error().message.find("cycle") != std::string::npos);
  }
  SECTION("a dependency index out of range") {
    auto res = r.add({task("a"), task("b", {5})});
    REQUIRE_FALSE(res.ok());
    REQUIRE(res.error().message.find("'b'") != std::string::npos);
    REQUIRE(res.error().message.find("5") != std::string::npos);
  }
  SECTION("a task depending on itself") {
    auto res = r.add({task("a", {0})});
    REQUIRE_FALSE(res.ok());
    REQUIRE(res.error().message.find("'a'") != std::string::npos);
  }
  SECTION("an input from a task it does not depend on") {
    NewTask b = task("b");
    b.action.inputs = {generated_input("a.o", 0)};
    auto res = r.add({task("a", {}, {"a.o"}), b});
    REQUIRE_FALSE(res.ok());
    REQUIRE(res.error().message.find("a.o") != std::string::npos);
  }
  SECTION("an input from a producer out of range") {
    NewTask b = task("b", {0});
    b.action.inputs = {generated_input("x.o", 9)};
    auto res = r.add({task("a"), b});
    REQUIRE_FALSE(res.ok());
    REQUIRE(res.error().message.find("x.o") != std::string::npos);
  }
  // Rejected builds leave nothing behind.
  REQUIRE(r.sched.builds().empty());
  REQUIRE(r.host.done.empty());
  REQUIRE(r.sched.counters().builds == 0u);
}

TEST_CASE("duplicate dependency entries count once") {
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  uint64_t id = r.submit({task("a"), task("b", {0, 0, 0})});
  r.run_all();
  REQUIRE(r.host.sent_ids() == std::vector<std::string>{"a", "b"});
  REQUIRE(r.host.finished(id)->ok);
}

// ---------------------------------------------------------------- scale

TEST_CASE("a 10,000-task cached chain completes without deep recursion") {
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  const uint32_t n = 10000;
  std::vector<NewTask> tasks;
  tasks.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    NewTask t = i == 0 ? task("t0") : task("t" + std::to_string(i), {i - 1});
    r.host.cache[key_of(t.action)] = cached_outcome(t.action);
    tasks.push_back(std::move(t));
  }
  uint64_t id = r.submit(std::move(tasks));
  REQUIRE(r.host.sent.empty());
  REQUIRE(r.host.done.size() == 1u);
  REQUIRE(r.host.finished(id)->ok);
  REQUIRE(r.sched.counters().cache_hits == n);
  REQUIRE(r.sched.builds().empty());
}

TEST_CASE("a failure at the head of a 10,000-task chain skips the rest iteratively") {
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  const uint32_t n = 10000;
  std::vector<NewTask> tasks;
  for (uint32_t i = 0; i < n; ++i) tasks.push_back(i == 0 ? task("t0") : task("t" + std::to_string(i), {i - 1}));
  uint64_t id = r.submit(std::move(tasks), true);
  Sent s = r.host.sent.at(0);
  r.complete(s, r.failure(s));
  const Finished* f = r.host.finished(id);
  REQUIRE(f);
  REQUIRE(std::count(f->states.begin(), f->states.end(), TaskState::Skipped) == static_cast<long>(n - 1));
}

TEST_CASE("state names") {
  REQUIRE(std::string(state_name(TaskState::Cached)) == "cached");
  REQUIRE(std::string(state_name(TaskState::Skipped)) == "skipped");
}

// ---------------------------------------------------------------- dedup meets failures

TEST_CASE("a follower survives its primary's build stopping") {
  SECTION("primary back in the queue after an infra failure, then its build stops") {
    Rig r;
    r.add_worker("w1", "one", 2, 2);
    // b1: 'same' has the longer path, so it is sent first; 'bad' second.
    uint64_t b1 = r.submit({task("same", {}, {"same.o"}), task("after", {0}), task("bad")});
    uint64_t b2 = r.submit({task("same", {}, {"same.o"})});
    REQUIRE(r.host.sent.size() == 2u);
    REQUIRE(r.sched.counters().deduplicated == 1u);
    Sent same = r.host.sent[0].id == "same" ? r.host.sent[0] : r.host.sent[1];
    Sent bad = r.host.sent[0].id == "bad" ? r.host.sent[0] : r.host.sent[1];
    // No credit comes back in between: the primary waits in the queue for a retry.
    r.sched.on_result(same.route, same.gid, same.attempt, r.infra(same));
    r.sched.on_result(bad.route, bad.gid, bad.attempt, r.failure(bad));
    REQUIRE(r.host.done_count(b1) == 1u);
    REQUIRE_FALSE(r.host.finished(b1)->ok);
    // b2 did nothing wrong: its copy of the action must still run and finish.
    r.give_credit("w1", 2);
    r.sched.dispatch();
    r.run_all();
    REQUIRE(r.host.done_count(b2) == 1u);
    REQUIRE(r.host.finished(b2)->ok);
    REQUIRE(r.sched.builds().empty());
  }
  SECTION("primary hits an infra failure after its build stopped") {
    Rig r;
    r.add_worker("w1", "one", 2, 2);
    uint64_t b1 = r.submit({task("same", {}, {"same.o"}), task("after", {0}), task("bad")});
    uint64_t b2 = r.submit({task("same", {}, {"same.o"})});
    Sent same = r.host.sent[0].id == "same" ? r.host.sent[0] : r.host.sent[1];
    Sent bad = r.host.sent[0].id == "bad" ? r.host.sent[0] : r.host.sent[1];
    r.complete(bad, r.failure(bad));
    r.complete(same, r.infra(same));
    REQUIRE(r.host.done_count(b1) == 1u);
    REQUIRE_FALSE(r.host.finished(b1)->ok);
    r.run_all();
    REQUIRE(r.host.done_count(b2) == 1u);
    REQUIRE(r.host.finished(b2)->ok);
  }
  SECTION("primary's worker is lost and its build stops before the retry") {
    Rig r;
    r.add_worker("w1", "one", 2, 2);
    // b1: 'bad' heads the longest chain, 'same' comes second.
    uint64_t b1 = r.submit({task("bad"), task("bad2", {0}), task("bad3", {1}), task("same", {}, {"same.o"}),
                            task("after", {3})});
    uint64_t b2 = r.submit({task("same", {}, {"same.o"})});
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"bad", "same"});
    r.lose("w1", "worker one left");
    r.add_worker("w2", "two", 1, 1);
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 3u);
    Sent bad = r.host.sent[2];
    REQUIRE(bad.id == "bad");
    r.complete(bad, r.failure(bad));   // b1 stops while its 'same' waits for a retry
    REQUIRE(r.host.done_count(b1) == 1u);
    r.run_all();
    REQUIRE(r.host.done_count(b2) == 1u);
    REQUIRE(r.host.finished(b2)->ok);
    REQUIRE(r.host.sends_of("same") == 2u);
    REQUIRE(r.sched.builds().empty());
  }
}

TEST_CASE("a follower whose own build stopped still finishes with its primary") {
  Rig r;
  r.add_worker("w1", "one", 4, 4);
  uint64_t b1 = r.submit({task("same", {}, {"same.o"})});
  uint64_t b2 = r.submit({task("same", {}, {"same.o"}), task("bad"), task("after", {0})});
  Sent bad = r.host.sent.at(1);
  REQUIRE(bad.id == "bad");
  r.complete(bad, r.failure(bad));
  REQUIRE(r.host.done_count(b2) == 0u);   // its follower is still running
  Sent same = r.host.sent.at(0);
  r.complete(same, r.success(same));
  REQUIRE(r.host.finished(b1)->ok);
  REQUIRE(r.host.done_count(b2) == 1u);
  REQUIRE(r.host.finished(b2)->states ==
          std::vector<TaskState>{TaskState::Done, TaskState::Failed, TaskState::Skipped});
}

TEST_CASE("followers and infrastructure retries") {
  SECTION("followers fail with a primary that exhausts its attempts") {
    Rig r(2);
    r.add_worker("w1", "one", 1, 1);
    uint64_t b1 = r.submit({task("same")});
    uint64_t b2 = r.submit({task("same")});
    for (int i = 0; i < 2; ++i) {
      Sent s = r.host.sent.back();
      r.complete(s, r.infra(s, "no space"));
    }
    REQUIRE(r.host.sent.size() == 2u);   // followers never ran it themselves
    REQUIRE_FALSE(r.host.finished(b1)->ok);
    REQUIRE_FALSE(r.host.finished(b2)->ok);
    REQUIRE(r.host.finished(b2)->messages[0].find("gave up") != std::string::npos);
  }
  SECTION("a retried primary runs once more for everybody") {
    Rig r;
    r.add_two_workers();
    uint64_t b1 = r.submit({task("same")});
    uint64_t b2 = r.submit({task("same")});
    Sent first = r.host.sent.at(0);
    r.complete(first, r.infra(first));
    REQUIRE(r.host.sent.size() == 2u);
    REQUIRE(r.sched.running_count() == 2u);
    r.run_all();
    REQUIRE(r.host.sent.size() == 2u);
    REQUIRE(r.host.finished(b1)->ok);
    REQUIRE(r.host.finished(b2)->ok);
  }
  SECTION("a follower whose build stopped is skipped when its primary is retried") {
    Rig r;
    r.add_worker("w1", "one", 4, 4);
    uint64_t b1 = r.submit({task("same")});
    uint64_t b2 = r.submit({task("same"), task("bad")});
    Sent bad = r.host.sent.at(1);
    REQUIRE(bad.id == "bad");
    r.complete(bad, r.failure(bad));
    Sent same = r.host.sent.at(0);
    r.complete(same, r.infra(same));
    REQUIRE(r.host.done_count(b2) == 1u);
    REQUIRE(r.host.finished(b2)->states == std::vector<TaskState>{TaskState::Skipped, TaskState::Failed});
    r.run_all_expect_ok(b1);
    REQUIRE(r.sched.builds().empty());
    REQUIRE(r.sched.running_count() == 0u);
  }
}

TEST_CASE("losing workers does not use up a task's attempts; reported infra failures do") {
  Rig r;
  for (int i = 0; i < 6; ++i) r.add_worker("w" + std::to_string(i), "id" + std::to_string(i), 1, 1);
  uint64_t id = r.submit({task("t")});
  // Five workers die one after another while running the task: it keeps being retried.
  for (size_t k = 1; k <= 5; ++k) {
    REQUIRE(r.host.sent.size() == k);
    r.lose(r.host.sent.back().route);
    r.sched.dispatch();   // to the next worker
  }
  REQUIRE(r.host.sent.size() == 6u);
  r.run_all_expect_ok(id);
}

// ---------------------------------------------------------------- trust rules

TEST_CASE("two running builds may not write one output with different commands") {
  Rig r;
  r.add_worker("w1", "one", 4, 4);
  uint64_t b1 = r.submit({task("gen", {}, {"out.o"})});
  NewTask other = task("gen", {}, {"out.o"});
  other.action.argv = {"tool", "something-else"};
  auto refused = r.add({other});
  REQUIRE_FALSE(refused.ok());
  REQUIRE(refused.error().message.find("out.o") != std::string::npos);
  REQUIRE(refused.error().message.find("build " + std::to_string(b1)) != std::string::npos);
  NewTask elsewhere = other;
  elsewhere.action.root = "/other-checkout";
  REQUIRE(r.add({elsewhere}).ok());   // another root: no conflict
  r.run_all_expect_ok(b1);
  REQUIRE(r.add({other}).ok());        // the first build ended: its claim is released
}

TEST_CASE("a build that requires a sandbox runs only on sandboxed workers") {
  Rig r;
  r.add_worker("bare", "bare", 2, 2);   // unsandboxed (the default in the registry)
  auto id = r.sched.add_build("client", 7, "test", {task("a", {}, {"a.o"})}, false, true);
  REQUIRE(id.ok());
  r.sched.start_build(id.value());
  r.sched.dispatch();
  REQUIRE(r.host.sent.empty());
  r.add_worker("boxed", "boxed", 2, 2);
  r.registry.find("boxed")->sandboxed = true;
  r.sched.dispatch();
  REQUIRE(r.host.sent.size() == 1u);
  REQUIRE(r.host.sent[0].route == "boxed");
}

TEST_CASE("a cancelled build starts nothing new and ends") {
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  uint64_t b = r.submit({task("a", {}, {"a.o"}), task("b", {}, {"b.o"}), task("c", {0, 1}, {"c"})});
  REQUIRE(r.host.sent.size() == 1u);
  r.sched.cancel_build(b, "cancelled: the client disconnected");
  Sent s = r.host.sent[0];
  r.complete(s, r.success(s));
  r.give_credit("w1", 1);
  r.sched.dispatch();
  REQUIRE(r.host.sent.size() == 1u);
  const Finished* f = r.host.finished(b);
  REQUIRE(f);
  REQUIRE_FALSE(f->ok);
}

TEST_CASE("--verify-rate runs an action on two workers and compares") {
  SECTION("agreeing runs count once and are accepted") {
    Rig r;
    r.sched.set_verify_rate(1.0);
    r.add_two_workers();
    uint64_t b = r.submit({task("a", {}, {"a.o"})});
    REQUIRE(r.host.sent.size() == 1u);
    Sent first = r.host.sent[0];
    REQUIRE_FALSE(r.sched.on_result(first.route, first.gid, first.attempt, r.success(first)));
    r.sched.dispatch();
    REQUIRE(r.host.sent.size() == 2u);
    Sent second = r.host.sent[1];
    REQUIRE(second.route != first.route);   // another worker
    REQUIRE(r.sched.on_result(second.route, second.gid, second.attempt, r.success(second)));
    REQUIRE(r.host.finished(b)->ok);
    REQUIRE(r.sched.counters().verified == 1u);
    REQUIRE(r.sched.counters().executed == 1u);
  }
  SECTION("disagreeing runs fail the task, name both workers and set a repeat offender aside") {
    Rig r;
    r.sched.set_verify_rate(1.0, 1);
    r.add_two_workers();
    uint64_t b = r.submit({task("a", {}, {"a.o"})});
    Sent first = r.host.sent[0];
    REQUIRE_FALSE(r.sched.on_result(first.route, first.gid, first.attempt, r.success(first)));
    r.sched.dispatch();
    Sent second = r.host.sent.at(1);
    Outcome lie = r.success(second);
    lie.outputs[0].digest = digest_bytes("something else");
    REQUIRE_FALSE(r.sched.on_result(second.route, second.gid, second.attempt, lie));
    const Finished* f = r.host.finished(b);
    REQUIRE(f);
    REQUIRE_FALSE(f->ok);
    REQUIRE(f->states[0] == TaskState::Failed);
    REQUIRE(r.sched.counters().verify_mismatches == 1u);
    REQUIRE(r.registry.find("w1")->set_aside);
    REQUIRE(r.registry.find("w2")->set_aside);
    // Set-aside workers get nothing more.
    r.give_credit("w1", 1);
    r.give_credit("w2", 1);
    r.submit({task("b", {}, {"b.o"})});
    REQUIRE(r.host.sent.size() == 2u);
  }
  SECTION("with one worker the action is accepted unverified and counted") {
    Rig r;
    r.sched.set_verify_rate(1.0);
    r.add_worker("w1", "one", 1, 1);
    uint64_t b = r.submit({task("a", {}, {"a.o"})});
    Sent first = r.host.sent[0];
    REQUIRE(r.sched.on_result(first.route, first.gid, first.attempt, r.success(first)));
    REQUIRE(r.host.finished(b)->ok);
    REQUIRE(r.sched.counters().verify_skipped == 1u);
  }
}

TEST_CASE("an accepted success is reported to the host before any event tells of it") {
  Rig r;
  r.add_worker("w1", "one", 1, 1);
  uint64_t b = r.submit({task("a", {}, {"a.o"})});
  Sent s = r.host.sent[0];
  size_t events = r.host.events.size();
  r.complete(s, r.success(s));
  REQUIRE(r.host.accepted_ids == std::vector<std::string>{"a"});
  REQUIRE(r.host.events_before_accept == events);   // the Done event came after accepted()
  REQUIRE(r.host.finished(b)->ok);
  // Failures and infrastructure errors are never accepted.
  uint64_t b2 = r.submit({task("f", {}, {"f.o"})});
  Sent f = r.host.sent.back();
  r.complete(f, r.failure(f));
  REQUIRE_FALSE(r.host.finished(b2)->ok);
  REQUIRE(r.host.accepted_ids.size() == 1u);
}

TEST_CASE("tasks go only to workers whose announced programs admit them") {
  Rig r;
  r.add_worker("plain", "plain", 2, 2);
  r.registry.find("plain")->any_program = false;   // the C/C++ toolchain only
  NewTask sh = task("test", {}, {});
  sh.action.argv = {"sh", "-c", "true"};
  NewTask cc = task("a.o", {}, {"a.o"});
  cc.action.argv = {"gcc", "-c", "a.c", "-o", "a.o"};
  SECTION("no connected worker may run it: it fails with the reason once nothing else runs") {
    uint64_t b = r.submit({cc, sh}, true);
    REQUIRE(r.host.sent_ids() == std::vector<std::string>{"a.o"});   // sh is not sent to 'plain'
    Sent s = r.host.sent[0];
    r.complete(s, r.success(s));
    const Finished* f = r.host.finished(b);
    REQUIRE(f);
    REQUIRE(f->states[0] == TaskState::Done);
    REQUIRE(f->states[1] == TaskState::Failed);
    REQUIRE(f->messages[1].find("no connected worker may run 'sh'") != std::string::npos);
    REQUIRE(r.host.sends_of("test") == 0u);
  }
  SECTION("a worker that allows it gets it") {
    r.add_worker("shell", "shell", 1, 1);
    r.registry.find("shell")->any_program = false;
    r.registry.find("shell")->programs = {"sh"};
    uint64_t b = r.submit({sh});
    REQUIRE(r.host.sent.size() == 1u);
    REQUIRE(r.host.sent[0].route == "shell");
    r.run_all_expect_ok(b);
  }
  SECTION("with no worker connected the build waits") {
    Rig empty;
    uint64_t b = empty.submit({sh});
    REQUIRE_FALSE(empty.host.finished(b));
  }
}
