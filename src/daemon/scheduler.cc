#include "daemon/scheduler.h"

#include "common/command_policy.h"

#include <algorithm>

namespace zbuild::daemon {

const char* state_name(TaskState s) {
  switch (s) {
    case TaskState::Waiting: return "waiting";
    case TaskState::Ready: return "ready";
    case TaskState::Running: return "running";
    case TaskState::Done: return "done";
    case TaskState::Cached: return "cached";
    case TaskState::Failed: return "failed";
    case TaskState::Skipped: return "skipped";
  }
  return "?";
}

Scheduler::Scheduler(const Clock& clock, Registry& registry, SchedulerHost& host, int max_attempts,
                     int64_t retry_backoff_ms)
    : clock_(clock), registry_(registry), host_(host), max_attempts_(max_attempts), retry_backoff_ms_(retry_backoff_ms) {}

int64_t Scheduler::default_estimate_ms(const ActionSpec& a) { return Estimator::prior_ms(task_kind(a)); }

std::string Scheduler::duration_key(const ActionSpec& a) {
  Hasher h;
  h.field(a.root);
  for (auto& o : a.outputs) h.field(o);
  if (a.outputs.empty()) {
    for (auto& s : a.argv) h.field(s);
  }
  return "dur:" + h.finish().hex();
}

TaskRec* Scheduler::find_task(uint64_t gid) {
  auto it = by_gid_.find(gid);
  if (it == by_gid_.end()) return nullptr;
  return &it->second.first->tasks[it->second.second];
}

size_t Scheduler::running_count() const {
  size_t n = 0;
  for (auto& [_, b] : builds_) n += b->running;
  return n;
}

Result<uint64_t> Scheduler::add_build(std::string client_route, uint64_t request_id, std::string name,
                                      std::vector<NewTask> tasks, bool keep_going, bool require_sandbox,
                                      std::string private_for) {
  const uint32_t n = static_cast<uint32_t>(tasks.size());
  // Output claims: the same file under the same root written by two running builds is refused,
  // unless both builds run the very same action for it (then dedup runs it once).
  std::vector<std::pair<std::string, Digest>> claims;
  for (auto& nt : tasks) {
    if (nt.action.root.empty()) continue;   // no files to write (tests, benchmarks)
    Digest spec = submitted_digest(nt.action);
    for (auto& o : nt.action.outputs) {
      std::string c = nt.action.root + "/" + o;
      if (auto it = output_claims_.find(c); it != output_claims_.end() && it->second.second != spec) {
        return make_error("task '" + nt.id + "': output '" + o + "' under " + nt.action.root +
                          " is being written by running build " + std::to_string(it->second.first) +
                          " with another command; wait for it to finish");
      }
      claims.emplace_back(std::move(c), spec);
    }
  }
  auto b = std::make_unique<Build>();
  b->id = next_build_++;
  b->client_route = std::move(client_route);
  b->request_id = request_id;
  b->name = std::move(name);
  b->keep_going = keep_going;
  b->require_sandbox = require_sandbox;
  b->private_for = std::move(private_for);
  b->started_ms = clock_.now_ms();
  b->tasks.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    auto& t = b->tasks[i];
    t.build_id = b->id;
    t.index = i;
    t.id = std::move(tasks[i].id);
    t.action = std::move(tasks[i].action);
    std::sort(tasks[i].deps.begin(), tasks[i].deps.end());
    tasks[i].deps.erase(std::unique(tasks[i].deps.begin(), tasks[i].deps.end()), tasks[i].deps.end());
    for (uint32_t d : tasks[i].deps) {
      if (d >= n || d == i) {
        return make_error("task '" + t.id + "': dependency index " + std::to_string(d) + " is invalid");
      }
    }
    t.deps = std::move(tasks[i].deps);
    t.waiting_on = static_cast<uint32_t>(t.deps.size());
    for (auto& in : t.action.inputs) {
      if (in.producer > n || in.producer == i + 1) {
        return make_error("task '" + t.id + "': input '" + in.path + "' names an invalid producer");
      }
      if (in.producer && std::find(t.deps.begin(), t.deps.end(), in.producer - 1) == t.deps.end()) {
        return make_error("task '" + t.id + "': input '" + in.path + "' comes from a task it does not depend on");
      }
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t d : b->tasks[i].deps) b->tasks[d].dependents.push_back(i);
  }
  // Kahn's algorithm: checks acyclicity and yields an order for the priority pass.
  std::vector<uint32_t> indeg(n), order;
  order.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    indeg[i] = b->tasks[i].waiting_on;
    if (indeg[i] == 0) order.push_back(i);
  }
  for (size_t k = 0; k < order.size(); ++k) {
    for (uint32_t d : b->tasks[order[k]].dependents) {
      if (--indeg[d] == 0) order.push_back(d);
    }
  }
  if (order.size() != n) return make_error("build '" + b->name + "' has a dependency cycle");
  // Estimates: a task's own remembered duration, else the estimator's by kind and size (its
  // prior for a kind it has not seen yet orders the build's tasks of that kind by size).
  load_estimator();
  std::array<double, kTaskKinds> sized_bytes{}, sized{};
  for (auto& t : b->tasks) {
    t.kind = task_kind(t.action);
    t.input_bytes = source_bytes(t.action);
    if (auto known = host_.duration_lookup(duration_key(t.action))) {
      t.remembered = true;
      t.estimate_ms = std::max<int64_t>(1, *known);
    }
    if (t.input_bytes > 0) {
      sized_bytes[static_cast<size_t>(t.kind)] += static_cast<double>(t.input_bytes);
      sized[static_cast<size_t>(t.kind)] += 1;
    }
  }
  for (size_t k = 0; k < kTaskKinds; ++k) {
    estimator_.seed(static_cast<TaskKind>(k), sized[k] > 0 ? sized_bytes[k] / sized[k] : 0);
    ranked_with_[k] = estimator_.model(static_cast<TaskKind>(k));
  }
  b->order = std::move(order);
  rank(*b);
  for (auto& t : b->tasks) {
    t.gid = next_gid_++;
    by_gid_[t.gid] = {b.get(), t.index};
  }
  counters_.builds++;
  counters_.tasks_received += n;
  uint64_t id = b->id;
  builds_[id] = std::move(b);
  for (auto& [c, spec] : claims) output_claims_.emplace(std::move(c), std::make_pair(id, spec));
  return id;
}

void Scheduler::load_estimator() {
  if (estimator_loaded_) return;
  estimator_loaded_ = true;
  for (size_t k = 0; k < kTaskKinds; ++k) {
    auto kind = static_cast<TaskKind>(k);
    if (auto text = host_.estimator_lookup(Estimator::store_key(kind))) estimator_.restore(kind, *text);
  }
}

// Longest remaining path first: priority = own estimate + the longest chain after it.
void Scheduler::rank(Build& b) {
  for (size_t k = b.order.size(); k-- > 0;) {
    auto& t = b.tasks[b.order[k]];
    if (!t.remembered && (t.state == TaskState::Waiting || t.state == TaskState::Ready)) {
      t.estimate_ms = estimator_.estimate(t.kind, t.input_bytes);
    }
    int64_t after = 0;
    for (uint32_t d : t.dependents) after = std::max(after, b.tasks[d].priority_ms);
    t.priority_ms = t.estimate_ms + after;
  }
}

// A task ran in `ms`: the estimator learns it; when that moved its kind's model by more than
// kRerankFactor since the last ranking, every build is ranked again and the ready queue rebuilt.
void Scheduler::learn(const TaskRec& t, int64_t ms) {
  estimator_.observe(t.kind, t.input_bytes, ms);
  size_t k = static_cast<size_t>(t.kind);
  learned_since_save_[k] = true;
  auto moved = [](double now, double then) {
    if (now <= 0 || then <= 0) return (now > 0) != (then > 0);
    return std::max(now / then, then / now) > kRerankFactor;
  };
  Estimator::Model m = estimator_.model(t.kind);
  if (!moved(m.rate, ranked_with_[k].rate) && !moved(m.mean, ranked_with_[k].mean)) return;
  for (size_t j = 0; j < kTaskKinds; ++j) ranked_with_[j] = estimator_.model(static_cast<TaskKind>(j));
  counters_.reranks++;
  for (auto& [_, b] : builds_) rank(*b);
  std::vector<uint64_t> gids;
  gids.reserve(ready_.size());
  for (; !ready_.empty(); ready_.pop()) gids.push_back(ready_.top().gid);
  std::sort(gids.begin(), gids.end());
  gids.erase(std::unique(gids.begin(), gids.end()), gids.end());
  for (uint64_t gid : gids) {
    if (TaskRec* r = find_task(gid); r && r->state == TaskState::Ready) ready_.push({r->priority_ms, gid});
  }
}

// The action as submitted (produced inputs named by their producer): equal for the same command
// on the same files.
Digest Scheduler::submitted_digest(const ActionSpec& a) {
  Hasher h;
  h.field(a.root);
  h.field(a.cwd);
  h.field(a.argv.size());
  for (auto& s : a.argv) h.field(s);
  h.field(a.env.size());
  for (auto& s : a.env) h.field(s);
  h.field(a.inputs.size());
  for (auto& in : a.inputs) {
    h.field(in.path);
    h.field(in.digest.str());
    h.field(in.producer);
    h.field(in.produced_as);
  }
  h.field(a.outputs.size());
  for (auto& o : a.outputs) h.field(o);
  return h.finish();
}

void Scheduler::cancel_build(uint64_t build_id, const std::string& why) {
  auto it = builds_.find(build_id);
  if (it == builds_.end()) return;
  Build& b = *it->second;
  b.failed = true;
  stop_build(b, why);
  drain();
  if (auto again = builds_.find(build_id); again != builds_.end()) maybe_done(*again->second);
}

void Scheduler::start_build(uint64_t build_id) {
  auto it = builds_.find(build_id);
  if (it == builds_.end()) return;
  Build& b = *it->second;
  const size_t from = pending_.size();
  for (auto& t : b.tasks) {
    if (t.waiting_on == 0) pending_.push_back({b.id, t.index});
  }
  // Best last (drain takes from the back), in the order ready_ hands tasks out: priority, then
  // the lower gid. The first kFirstWave are made ready and dispatched before the rest of a large
  // build is keyed and looked up in the cache, so its first tasks run meanwhile; they are the
  // very tasks a dispatch after the whole build would have chosen (the others' priorities are
  // no higher), bar cache hits among them.
  std::sort(pending_.begin() + static_cast<std::ptrdiff_t>(from), pending_.end(), [&](const auto& x, const auto& y) {
    const TaskRec& p = b.tasks[x.second];
    const TaskRec& q = b.tasks[y.second];
    return p.priority_ms != q.priority_ms ? p.priority_ms < q.priority_ms : p.gid > q.gid;
  });
  if (pending_.size() - from > kFirstWave) {
    drain(kFirstWave);
    dispatch();
  }
  drain();
  if (auto again = builds_.find(build_id); again != builds_.end()) maybe_done(*again->second);
}

void Scheduler::drain(size_t limit) {
  for (size_t done = 0; !pending_.empty() && done < limit; ++done) {
    auto [bid, idx] = pending_.back();
    pending_.pop_back();
    auto it = builds_.find(bid);
    if (it == builds_.end()) continue;
    Build& b = *it->second;
    TaskRec& t = b.tasks[idx];
    if (t.state != TaskState::Waiting) continue;
    if (b.stopped) continue;
    make_ready(b, t);
  }
}

void Scheduler::make_ready(Build& b, TaskRec& t) {
  // Inputs produced by other tasks take the digest their producer reported.
  for (auto& in : t.action.inputs) {
    if (!in.producer) continue;
    const TaskRec& p = b.tasks[in.producer - 1];
    const std::string& as = in.produced_as.empty() ? in.path : in.produced_as;
    auto o = std::find_if(p.outcome.outputs.begin(), p.outcome.outputs.end(),
                          [&](const OutputSpec& s) { return s.path == as; });
    if (o == p.outcome.outputs.end()) {
      Outcome bad;
      bad.exit_code = -1;
      bad.infra_error = "input '" + as + "' was not produced by task '" + p.id + "'";
      finish(b, t, TaskState::Failed, std::move(bad));
      return;
    }
    in.digest = o->digest;
    in.executable = o->executable;
  }
  std::sort(t.action.inputs.begin(), t.action.inputs.end(),
            [](const InputSpec& a, const InputSpec& c) { return a.path < c.path; });
  t.key = action_key(t.action);
  t.ready_us = wall_us();
  if (auto hit = host_.cache_lookup(t.key, t.action.outputs)) {
    counters_.cache_hits++;
    finish(b, t, TaskState::Cached, std::move(*hit));
    return;
  }
  if (auto in = inflight_.find(t.key); in != inflight_.end()) {
    counters_.deduplicated++;
    t.state = TaskState::Running;   // runs as the primary's follower
    b.running++;
    followers_[in->second].push_back(t.gid);
    return;
  }
  t.state = TaskState::Ready;
  // --verify-rate: chosen by action key, so the same action is verified on every build.
  t.verify = verify_rate_ > 0 && static_cast<double>(t.key.lo % 10000) < verify_rate_ * 10000.0;
  ready_.push({t.priority_ms, t.gid});
}

WorkerRec* Scheduler::pick_worker(const TaskRec& t) {
  WorkerRec* best = nullptr;
  WorkerRec* fallback = nullptr;
  const Build& b = *builds_.at(t.build_id);
  bool need_sandbox = b.require_sandbox;
  // A client's local slot takes only its own build's tasks, and only those no public worker
  // may run (the submitting machine is the last resort, not a worker for everyone).
  bool public_can = std::any_of(registry_.workers().begin(), registry_.workers().end(), [&](const auto& kv) {
    return kv.second.private_for.empty() && cmd::program_allowed_by(t.action.argv[0], kv.second.programs, kv.second.any_program);
  });
  for (auto& [_, w] : registry_.workers()) {
    if (!w.private_for.empty() && (w.private_for != b.private_for || public_can)) continue;
    if (w.credit <= 0 || w.set_aside || (need_sandbox && !w.sandboxed)) continue;
    if (!cmd::program_allowed_by(t.action.argv[0], w.programs, w.any_program)) continue;   // it would refuse
    if (t.first_run && w.route == t.first_worker_route) continue;   // the second run goes elsewhere
    if (t.failed_on.count(w.id)) {
      if (!fallback || w.credit > fallback->credit) fallback = &w;
      continue;
    }
    // Locality: a worker that already has the task's toolchain (its own or fetched) first.
    auto rank = [&](const WorkerRec& x) { return std::pair(x.toolchains.count(t.action.toolchain) > 0, x.credit); };
    if (!best || rank(w) > rank(*best)) best = &w;
  }
  return best ? best : fallback;
}

void Scheduler::dispatch() {
  if (!delayed_.empty()) {
    int64_t now = clock_.now_ms();
    for (auto it = delayed_.begin(); it != delayed_.end();) {
      if (it->first <= now) {
        if (TaskRec* t = find_task(it->second)) ready_.push({t->priority_ms, t->gid});
        it = delayed_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::vector<ReadyItem> parked;   // tasks no worker with credit may take now (kept in order)
  while (!ready_.empty()) {
    ReadyItem top = ready_.top();
    TaskRec* t = find_task(top.gid);
    if (!t || t->state != TaskState::Ready) {
      ready_.pop();
      continue;
    }
    Build& b = *builds_.at(t->build_id);
    if (b.stopped) {
      ready_.pop();
      continue;
    }
    if (auto in = inflight_.find(t->key); in != inflight_.end()) {
      ready_.pop();
      counters_.deduplicated++;
      t->state = TaskState::Running;
      b.running++;
      followers_[in->second].push_back(t->gid);
      continue;
    }
    WorkerRec* w = pick_worker(*t);
    if (!w) {
      if (registry_.total_credit() == 0) break;
      parked.push_back(top);   // another task may fit a worker this one may not use
      ready_.pop();
      continue;
    }
    ready_.pop();
    t->attempts++;
    t->state = TaskState::Running;
    t->running_on = w->route;
    t->start_us = wall_us();
    b.running++;
    w->credit--;
    w->running.insert(t->gid);
    inflight_[t->key] = t->gid;
    counters_.dispatched++;
    if (!host_.send_task(*w, *t)) {
      // The task never reached the worker: it goes back to the queue without spending an
      // attempt, and the unreachable worker is dropped (its other tasks are retried).
      t->attempts--;
      t->state = TaskState::Ready;
      t->running_on.clear();
      b.running--;
      w->running.erase(t->gid);
      inflight_.erase(t->key);
      counters_.dispatched--;
      ready_.push({t->priority_ms, t->gid});
      auto gone = registry_.remove(w->route);
      if (gone) on_worker_lost(*gone, "worker " + gone->id + " unreachable");
      continue;
    }
    emit(b, *t);
  }
  for (auto& p : parked) {
    TaskRec* t = find_task(p.gid);
    if (t && t->state == TaskState::Ready && unplaceable(*t)) {
      Build& b = *builds_.at(t->build_id);
      Outcome o;
      o.exit_code = 126;
      o.err = "zbuild: program '" + t->action.argv[0] + "' is not allow-listed on any connected worker (a worker's " +
              "operator adds it with --allow-program " + t->action.argv[0].substr(t->action.argv[0].rfind('/') + 1) +
              ")\n";
      t->message = "no connected worker may run '" + t->action.argv[0] + "'";
      finish(b, *t, TaskState::Failed, std::move(o));
      continue;
    }
    ready_.push(p);
  }
  drain();
}

// A ready task no connected worker would run (by the programs they announced), in a build
// with nothing else running: it fails now, with the reason, instead of waiting for ever. With
// no worker connected at all the build waits, as any build does.
bool Scheduler::unplaceable(const TaskRec& t) const {
  const auto& ws = registry_.workers();
  if (ws.empty() || t.action.argv.empty()) return false;
  const Build& b = *builds_.at(t.build_id);
  bool someone = std::any_of(ws.begin(), ws.end(), [&](const auto& w) {
    bool serves = w.second.private_for.empty() || w.second.private_for == b.private_for;
    return serves && cmd::program_allowed_by(t.action.argv[0], w.second.programs, w.second.any_program);
  });
  return !someone && b.running == 0;
}

bool Scheduler::on_result(const std::string& worker_route, uint64_t gid, int attempt, Outcome outcome) {
  TaskRec* t = find_task(gid);
  if (!t || t->state != TaskState::Running || t->attempts != attempt || t->running_on != worker_route) {
    counters_.late_results++;
    return false;
  }
  Build& b = *builds_.at(t->build_id);
  if (auto* w = registry_.find(worker_route)) {
    w->running.erase(gid);
    w->tasks_done++;
    if (outcome.infra_error.empty() && !t->action.toolchain.empty()) w->toolchains.insert(t->action.toolchain);
  }
  t->running_on.clear();
  b.running--;
  if (auto in = inflight_.find(t->key); in != inflight_.end() && in->second == gid) inflight_.erase(in);
  if (!outcome.infra_error.empty()) {
    // Remember where it failed so the retry prefers another worker (t->outcome is not this one).
    if (auto* w = registry_.find(worker_route)) t->failed_on.insert(w->id);
    fail_infra(b, *t, outcome.infra_error + " (worker " + outcome.worker + ")");
  } else {
    TaskState st = outcome.exit_code == 0 ? TaskState::Done : TaskState::Failed;
    if (st == TaskState::Done && t->verify) {
      if (!t->first_run) {
        bool other = std::any_of(registry_.workers().begin(), registry_.workers().end(),
                                 [&](auto& w) { return w.first != worker_route && !w.second.set_aside; });
        if (other) {   // run it again on another worker before it counts
          t->first_run = std::move(outcome);
          t->first_worker_route = worker_route;
          t->state = TaskState::Ready;
          ready_.push({t->priority_ms, t->gid});
          drain();
          return false;
        }
        counters_.verify_skipped++;
      } else if (auto why = compare_runs(*t->first_run, outcome); !why.empty()) {
        counters_.verify_mismatches++;
        for (const std::string* r : {static_cast<const std::string*>(&t->first_worker_route), &worker_route}) {
          if (auto* w = registry_.find(*r); w && ++w->mismatches >= static_cast<uint64_t>(set_aside_after_)) {
            w->set_aside = true;
          }
        }
        st = TaskState::Failed;
        outcome.exit_code = 1;
        outcome.err += "zbuild: verification failed: workers " + t->first_run->worker + " and " + outcome.worker +
                       " disagree (" + why + "): a nondeterministic action, a broken host or a lying worker; " +
                       "nothing was cached\n";
        outcome.outputs.clear();
        t->message = "verification mismatch between workers " + t->first_run->worker + " and " + outcome.worker;
      } else {
        counters_.verified++;
      }
    }
    if (st == TaskState::Done) {
      counters_.executed++;
      host_.duration_record(duration_key(t->action), outcome.duration_ms);
      learn(*t, outcome.duration_ms);
      host_.accepted(*t, outcome);
    }
    auto followers = std::move(followers_[gid]);
    followers_.erase(gid);
    finish(b, *t, st, outcome);
    for (uint64_t f : followers) {
      TaskRec* ft = find_task(f);
      if (!ft || ft->state != TaskState::Running) continue;
      Build& fb = *builds_.at(ft->build_id);
      fb.running--;
      finish(fb, *ft, st, outcome);
    }
    drain();
    return st == TaskState::Done;
  }
  drain();
  return false;
}

std::string Scheduler::compare_runs(const Outcome& a, const Outcome& b) {
  if (a.outputs.size() != b.outputs.size()) return "different numbers of outputs";
  std::map<std::string, Digest> first;
  for (auto& o : a.outputs) first[o.path] = o.digest;
  for (auto& o : b.outputs) {
    auto it = first.find(o.path);
    if (it == first.end()) return "output '" + o.path + "' only from one";
    if (it->second != o.digest) return "output '" + o.path + "': " + it->second.str() + " vs " + o.digest.str();
  }
  return {};
}

void Scheduler::fail_infra(Build& b, TaskRec& t, const std::string& why, bool worker_lost) {
  if (!t.outcome.worker.empty()) t.failed_on.insert(t.outcome.worker);
  t.message = why;
  // A lost worker is not the task's fault: those retries have their own, larger bound, so a
  // task that merely ran on unlucky hosts is not given up on. Failures the worker reported
  // (timeout, toolchain mismatch, sandbox or transfer errors) count against max_attempts.
  bool can_retry;
  if (worker_lost) {
    t.lost_count++;
    can_retry = t.lost_count <= kMaxLostRetries;
  } else {
    t.infra_failures++;
    can_retry = t.infra_failures < max_attempts_;
  }
  if (can_retry) {
    // This primary gives no result now (it is retried, or dropped because its own build
    // stopped), so tasks deduplicated onto it must not wait for it: a stopped build would
    // skip it and leave them running forever. They go back to the queue (or are skipped if
    // their build stopped); dispatch deduplicates them again.
    auto followers = std::move(followers_[t.gid]);
    followers_.erase(t.gid);
    for (uint64_t f : followers) {
      TaskRec* ft = find_task(f);
      if (!ft || ft->state != TaskState::Running) continue;
      Build& fb = *builds_.at(ft->build_id);
      fb.running--;
      if (fb.stopped) {
        ft->message = "not run: the build stopped";
        finish(fb, *ft, TaskState::Skipped, Outcome{});
      } else {
        ft->state = TaskState::Ready;
        ready_.push({ft->priority_ms, ft->gid});
      }
    }
  }
  if (can_retry && !b.stopped) {
    counters_.retries++;
    t.state = TaskState::Ready;
    if (retry_backoff_ms_ > 0) {
      int64_t delay = std::min<int64_t>(retry_backoff_ms_ << std::min(t.attempts - 1, 10), 2000);
      delayed_.push_back({clock_.now_ms() + delay, t.gid});
    } else {
      ready_.push({t.priority_ms, t.gid});
    }
    return;
  }
  Outcome o;
  o.exit_code = -1;
  o.infra_error = why + " (gave up after " + std::to_string(t.attempts) + " attempts)";
  auto followers = std::move(followers_[t.gid]);
  followers_.erase(t.gid);
  finish(b, t, TaskState::Failed, o);
  for (uint64_t f : followers) {
    TaskRec* ft = find_task(f);
    if (!ft || ft->state != TaskState::Running) continue;
    Build& fb = *builds_.at(ft->build_id);
    fb.running--;
    finish(fb, *ft, TaskState::Failed, o);
  }
}

void Scheduler::on_worker_lost(const WorkerRec& w, const std::string& why) {
  requeue_tasks(w.running, why);
}

void Scheduler::requeue_tasks(const std::set<uint64_t>& gids, const std::string& why) {
  for (uint64_t gid : gids) {
    TaskRec* t = find_task(gid);
    if (!t || t->state != TaskState::Running) continue;
    Build& b = *builds_.at(t->build_id);
    if (auto* w = registry_.find(t->running_on)) t->failed_on.insert(w->id);
    t->running_on.clear();
    b.running--;
    if (auto in = inflight_.find(t->key); in != inflight_.end() && in->second == gid) inflight_.erase(in);
    t->outcome.worker.clear();
    fail_infra(b, *t, why, /*worker_lost=*/true);
  }
  drain();
}

void Scheduler::finish(Build& b, TaskRec& t, TaskState state, Outcome outcome) {
  if (terminal(t.state)) return;
  t.state = state;
  t.outcome = std::move(outcome);
  t.end_us = wall_us();
  b.finished++;
  if (state == TaskState::Failed) counters_.failed++;
  emit(b, t);
  if (state == TaskState::Done || state == TaskState::Cached) {
    for (uint32_t d : t.dependents) {
      TaskRec& dt = b.tasks[d];
      if (dt.state == TaskState::Waiting && --dt.waiting_on == 0) pending_.push_back({b.id, d});
    }
  } else if (state == TaskState::Failed) {
    b.failed = true;
    skip_dependents(b, t);
    if (!b.keep_going) stop_build(b, "not started: the build stopped after task '" + t.id + "' failed");
  }
  maybe_done(b);
}

void Scheduler::skip_dependents(Build& b, TaskRec& failed) {
  std::vector<uint32_t> stack(failed.dependents.begin(), failed.dependents.end());
  while (!stack.empty()) {
    uint32_t i = stack.back();
    stack.pop_back();
    TaskRec& t = b.tasks[i];
    if (terminal(t.state) || t.state == TaskState::Running) continue;
    t.state = TaskState::Skipped;
    t.message = "skipped: depends on failed task '" + failed.id + "'";
    b.finished++;
    emit(b, t);
    stack.insert(stack.end(), t.dependents.begin(), t.dependents.end());
  }
}

void Scheduler::stop_build(Build& b, const std::string& why) {
  if (b.stopped) return;
  b.stopped = true;
  for (auto& t : b.tasks) {
    if (t.state == TaskState::Waiting || t.state == TaskState::Ready) {
      t.state = TaskState::Skipped;
      t.message = why;
      b.finished++;
      emit(b, t);
    }
  }
}

void Scheduler::maybe_done(Build& b) {
  if (b.finished != b.tasks.size() || b.running != 0) return;
  for (size_t k = 0; k < kTaskKinds; ++k) {
    if (!learned_since_save_[k]) continue;
    learned_since_save_[k] = false;
    auto kind = static_cast<TaskKind>(k);
    host_.estimator_record(Estimator::store_key(kind), estimator_.serialize(kind));
  }
  uint64_t id = b.id;
  host_.build_done(b);
  auto it = builds_.find(id);
  if (it == builds_.end()) return;
  for (auto& t : it->second->tasks) {
    by_gid_.erase(t.gid);
    followers_.erase(t.gid);
  }
  std::erase_if(output_claims_, [&](const auto& c) { return c.second.first == id; });
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(), [&](auto& p) { return p.first == id; }),
                 pending_.end());
  builds_.erase(it);
}

void Scheduler::emit(Build& b, TaskRec& t) { host_.task_event(b, t); }

}  // namespace zbuild::daemon
