#include "client/trace.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace zbuild::client {

namespace {

using S = wire::TaskState;

const char* state_text(S s) {
  switch (s) {
    case S::Done: return "done";
    case S::Cached: return "cached";
    case S::Failed: return "failed";
    case S::Skipped: return "skipped";
    case S::Running: return "running";
    default: return "queued";
  }
}

// Pid of each group of rows in the trace.
constexpr int kWorkersPid = 1, kQueuePid = 2, kCachePid = 3;

nlohmann::json meta(const char* what, int pid, int tid, nlohmann::json args) {
  nlohmann::json e = {{"name", what}, {"ph", "M"}, {"pid", pid}, {"args", std::move(args)}};
  if (tid >= 0) e["tid"] = tid;
  return e;
}

nlohmann::json complete(const std::string& name, const char* cat, int pid, int tid, int64_t ts, int64_t dur) {
  return {{"name", name}, {"cat", cat}, {"ph", "X"}, {"pid", pid}, {"tid", tid}, {"ts", ts},
          {"dur", std::max<int64_t>(dur, 0)}};
}

}  // namespace

bool Timeline::Entry::ran() const {
  return final && start_us > 0 && end_us >= start_us && (state == S::Done || state == S::Failed);
}

// Time the task held a slot: its run and upload as the worker reports them (a worker fetches
// inputs on its main thread, not in a slot). Not dispatch to result: a worker takes tasks beyond
// its slots (--prefetch), so that span can include a wait in the worker's queue.
int64_t Timeline::Entry::work_us() const {
  if (!ran()) return 0;
  if (run_ms > 0) return std::min(end_us - start_us, (run_ms + upload_ms) * 1000);
  return end_us - start_us;
}

Timeline::Timeline(std::vector<std::string> ids, std::vector<std::vector<uint32_t>> deps)
    : ids_(std::move(ids)), deps_(std::move(deps)), tasks_(ids_.size()) {
  deps_.resize(ids_.size());
}

void Timeline::on_event(const TaskReport& r) {
  if (r.index >= tasks_.size() || r.state == S::Running || r.state == S::Queued) return;
  Entry& e = tasks_[r.index];
  e.final = true;
  e.state = r.state;
  e.worker = r.worker;
  e.slot = r.slot;
  e.attempts = r.attempts;
  e.ready_us = r.ready_us;
  e.start_us = r.start_us;
  e.end_us = r.end_us;
  e.fetch_ms = r.fetch_ms;
  e.run_ms = r.run_ms;
  e.upload_ms = r.upload_ms;
}

uint64_t Timeline::slots_seen() const {
  std::set<std::pair<std::string, int>> seen;
  for (auto& e : tasks_) {
    if (e.ran()) seen.insert({e.worker, e.slot});
  }
  return seen.size();
}

ScheduleSummary Timeline::summarize(uint64_t slots) const {
  ScheduleSummary s;
  const size_t n = tasks_.size();
  // Longest path by work, in topological order (Kahn); the graph was validated acyclic.
  std::vector<uint32_t> pending(n, 0);
  std::vector<std::vector<uint32_t>> dependents(n);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t d : deps_[i]) {
      if (d >= n) continue;
      pending[i]++;
      dependents[d].push_back(static_cast<uint32_t>(i));
    }
  }
  std::vector<uint32_t> order;
  order.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) order.push_back(static_cast<uint32_t>(i));
  }
  for (size_t k = 0; k < order.size(); ++k) {
    for (uint32_t j : dependents[order[k]]) {
      if (--pending[j] == 0) order.push_back(j);
    }
  }
  std::vector<int64_t> finish(n, 0);
  std::vector<int64_t> before(n, -1);   // the dependency the longest chain comes through
  int64_t best = 0;
  int64_t last = -1;
  int64_t first_ready = 0, last_end = 0;
  for (uint32_t i : order) {
    int64_t start = 0;
    for (uint32_t d : deps_[i]) {
      if (d < n && finish[d] > start) {
        start = finish[d];
        before[i] = d;
      }
    }
    const Entry& e = tasks_[i];
    finish[i] = start + e.work_us();
    if (finish[i] > best) {
      best = finish[i];
      last = i;
    }
    if (!e.final) continue;
    if (e.ready_us > 0 && (first_ready == 0 || e.ready_us < first_ready)) first_ready = e.ready_us;
    last_end = std::max(last_end, e.end_us);
    if (e.ran()) s.wait_for_worker_ms += std::max<int64_t>(0, e.start_us - e.ready_us);
  }
  int64_t total_work_us = 0;
  for (auto& e : tasks_) total_work_us += e.work_us();
  for (int64_t i = last; i >= 0; i = before[static_cast<size_t>(i)]) {
    if (tasks_[static_cast<size_t>(i)].ran()) s.critical_path.push_back(static_cast<uint32_t>(i));
  }
  std::reverse(s.critical_path.begin(), s.critical_path.end());
  s.slots = slots ? slots : slots_seen();
  s.critical_path_ms = best / 1000;
  s.total_work_ms = total_work_us / 1000;
  s.wait_for_worker_ms /= 1000;
  int64_t per_slot_us = s.slots ? total_work_us / static_cast<int64_t>(s.slots) : total_work_us;
  s.lower_bound_ms = std::max(best, per_slot_us) / 1000;
  int64_t makespan_us = first_ready > 0 && last_end > first_ready ? last_end - first_ready : 0;
  s.makespan_ms = makespan_us / 1000;
  s.efficiency = makespan_us > 0 && total_work_us > 0
                     ? static_cast<double>(std::max(best, per_slot_us)) / static_cast<double>(makespan_us)
                     : 0.0;
  return s;
}

std::string Timeline::trace_json(const ScheduleSummary& s, const std::string& metrics_json,
                                 const std::string& name) const {
  const size_t n = tasks_.size();
  int64_t epoch = 0;
  for (auto& e : tasks_) {
    if (e.final && e.ready_us > 0 && (epoch == 0 || e.ready_us < epoch)) epoch = e.ready_us;
  }
  auto rel = [&](int64_t us) { return us > 0 ? us - epoch : 0; };
  // One row per (worker, slot) that ran something, ordered by worker then slot.
  std::map<std::pair<std::string, int>, int> rows;
  for (auto& e : tasks_) {
    if (e.ran()) rows.emplace(std::make_pair(e.worker, e.slot), 0);
  }
  int next_row = 1;
  for (auto& [key, tid] : rows) tid = next_row++;
  std::vector<bool> critical(n, false);
  for (uint32_t i : s.critical_path) critical[i] = true;

  nlohmann::json events = nlohmann::json::array();
  events.push_back(meta("process_name", kWorkersPid, -1, {{"name", "workers"}}));
  events.push_back(meta("process_sort_index", kWorkersPid, -1, {{"sort_index", 1}}));
  events.push_back(meta("process_name", kQueuePid, -1, {{"name", "queue (ready, waiting for a worker)"}}));
  events.push_back(meta("process_sort_index", kQueuePid, -1, {{"sort_index", 2}}));
  events.push_back(meta("process_name", kCachePid, -1, {{"name", "cache hits"}}));
  events.push_back(meta("process_sort_index", kCachePid, -1, {{"sort_index", 3}}));
  for (auto& [key, tid] : rows) {
    std::string name = key.first + (key.second >= 0 ? " slot " + std::to_string(key.second) : "");
    events.push_back(meta("thread_name", kWorkersPid, tid, {{"name", name}}));
    events.push_back(meta("thread_sort_index", kWorkersPid, tid, {{"sort_index", tid}}));
  }
  events.push_back(meta("thread_name", kCachePid, 1, {{"name", "cache"}}));

  nlohmann::json tasks = nlohmann::json::array();
  for (size_t i = 0; i < n; ++i) {
    const Entry& e = tasks_[i];
    int row = -1;
    if (e.ran()) {
      row = rows[{e.worker, e.slot}];
      int64_t ts = rel(e.start_us), end = rel(e.end_us);
      auto ev = complete(ids_[i], "task", kWorkersPid, row, ts, end - ts);
      ev["args"] = {{"index", i}, {"state", state_text(e.state)}, {"worker", e.worker}, {"slot", e.slot},
                    {"attempts", e.attempts}, {"critical", critical[i]},
                    {"queue_ms", (e.start_us - e.ready_us) / 1000}};
      events.push_back(std::move(ev));
      // Steps in the order the worker does them, clipped to the task's span on the daemon.
      int64_t at = ts;
      const std::pair<const char*, int64_t> steps[] = {{"fetch", e.fetch_ms}, {"run", e.run_ms}, {"upload", e.upload_ms}};
      for (auto& [what, ms] : steps) {
        int64_t dur = std::min<int64_t>(ms * 1000, end - at);
        if (dur <= 0) continue;
        auto step = complete(what, what, kWorkersPid, row, at, dur);
        step["args"] = {{"task", ids_[i]}};   // a slot's next task may start before this one's end is seen
        events.push_back(std::move(step));
        at += dur;
      }
      if (e.start_us > e.ready_us && e.ready_us > 0) {
        nlohmann::json b = {{"name", ids_[i]}, {"cat", "queue"}, {"ph", "b"}, {"id", i},
                            {"pid", kQueuePid}, {"tid", 1}, {"ts", rel(e.ready_us)}};
        nlohmann::json f = b;
        f["ph"] = "e";
        f["ts"] = ts;
        events.push_back(std::move(b));
        events.push_back(std::move(f));
      }
    } else if (e.final && e.state == S::Cached) {
      events.push_back({{"name", ids_[i]}, {"cat", "cached"}, {"ph", "i"}, {"s", "t"}, {"pid", kCachePid},
                        {"tid", 1}, {"ts", rel(e.end_us ? e.end_us : e.ready_us)}});
    }
    nlohmann::json t = {{"id", ids_[i]},
                        {"state", e.final ? state_text(e.state) : "unknown"},
                        {"worker", e.worker},
                        {"slot", e.slot},
                        {"row", row},
                        {"ready_us", rel(e.ready_us)},
                        {"start_us", rel(e.start_us)},
                        {"end_us", rel(e.end_us)},
                        {"fetch_ms", e.fetch_ms},
                        {"run_ms", e.run_ms},
                        {"upload_ms", e.upload_ms},
                        {"attempts", e.attempts},
                        {"deps", deps_[i]},
                        {"critical", critical[i]}};
    tasks.push_back(std::move(t));
  }
  nlohmann::json row_names = nlohmann::json::array();
  for (auto& [key, tid] : rows) row_names.push_back({{"row", tid}, {"worker", key.first}, {"slot", key.second}});
  auto metrics = nlohmann::json::parse(metrics_json, nullptr, false);
  if (metrics.is_discarded()) metrics = nlohmann::json::object();
  nlohmann::json z = {{"version", 1},
                      {"name", name},
                      {"epoch_us", epoch},
                      {"slots", s.slots},
                      {"rows", std::move(row_names)},
                      {"summary",
                       {{"critical_path_ms", s.critical_path_ms},
                        {"total_work_ms", s.total_work_ms},
                        {"lower_bound_ms", s.lower_bound_ms},
                        {"makespan_ms", s.makespan_ms},
                        {"efficiency", s.efficiency},
                        {"wait_for_worker_ms", s.wait_for_worker_ms}}},
                      {"metrics", std::move(metrics)},
                      {"tasks", std::move(tasks)}};
  nlohmann::json doc = {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"zbuild", std::move(z)}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace zbuild::client
