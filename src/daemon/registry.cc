#include "daemon/registry.h"

#include <algorithm>
#include <optional>

namespace zbuild::daemon {

std::set<uint64_t> Registry::hello(const std::string& route, const std::string& id, const std::string& host,
                                   const std::string& platform, int slots) {
  std::set<uint64_t> orphaned;
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->second.id == id || it->first == route) {
      orphaned.insert(it->second.running.begin(), it->second.running.end());
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  WorkerRec w;
  w.route = route;
  w.id = id;
  w.host = host;
  w.platform = platform;
  w.slots = slots;
  w.credit = 0;
  w.last_seen_ms = clock_.now_ms();
  w.joined_ms = w.last_seen_ms;
  workers_[route] = std::move(w);
  return orphaned;
}

int short_task_credit(WorkerRec& w, int64_t run_ms) {
  run_ms = std::clamp<int64_t>(run_ms, 0, int64_t{1} << 32);   // the worker's word: bounded
  w.run_ms_mean = w.run_ms_mean < 0 ? run_ms : (7 * w.run_ms_mean + run_ms) / 8;
  int extra = w.run_ms_mean < kShortTaskMs ? std::max(0, w.prefetch - 1) : 0;
  int change = std::max(extra - w.short_extra, -1);
  w.short_extra += change;
  return change;
}

WorkerRec* Registry::find(const std::string& route) {
  auto it = workers_.find(route);
  return it == workers_.end() ? nullptr : &it->second;
}

std::vector<WorkerRec> Registry::expire(int64_t read_up_to) {
  std::vector<WorkerRec> gone;
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (read_up_to - it->second.last_seen_ms > liveness_ms_) {
      gone.push_back(std::move(it->second));
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

std::optional<WorkerRec> Registry::remove(const std::string& route) {
  auto it = workers_.find(route);
  if (it == workers_.end()) return std::nullopt;
  WorkerRec w = std::move(it->second);
  workers_.erase(it);
  return w;
}

int Registry::total_credit() const {
  int n = 0;
  for (auto& [_, w] : workers_) n += w.credit;
  return n;
}

}  // namespace zbuild::daemon
