#include "client/metrics.h"

#include <nlohmann/json.hpp>

namespace zbuild::client {

void Metrics::on_event(const TaskReport& r) {
  using S = wire::TaskState;
  switch (r.state) {
    case S::Cached: cached_tasks++; break;
    case S::Done:
      executed_tasks++;
      if (min_task_ms < 0 || r.duration_ms < min_task_ms) min_task_ms = r.duration_ms;
      max_task_ms = std::max(max_task_ms, r.duration_ms);
      sum_task_ms += r.duration_ms;
      break;
    case S::Failed: failed_tasks++; break;
    case S::Skipped: skipped_tasks++; break;
    default: return;
  }
  if (r.attempts > 1) retried_tasks++;
}

std::string Metrics::to_json() const {
  nlohmann::json j;
  j["version"] = 1;
  j["total_tasks"] = total_tasks;
  j["completed_tasks"] = cached_tasks + executed_tasks;
  j["cached_tasks"] = cached_tasks;
  j["executed_tasks"] = executed_tasks;
  j["failed_tasks"] = failed_tasks;
  j["skipped_tasks"] = skipped_tasks;
  j["retried_tasks"] = retried_tasks;
  j["build_time_ms"] = build_time_ms;
  j["prepare_ms"] = prepare_ms;
  j["min_task_time_ms"] = min_task_ms < 0 ? 0 : min_task_ms;
  j["max_task_time_ms"] = max_task_ms;
  j["avg_task_time_ms"] = executed_tasks ? static_cast<double>(sum_task_ms) / static_cast<double>(executed_tasks) : 0.0;
  j["tasks_per_second"] =
      build_time_ms > 0 ? static_cast<double>(cached_tasks + executed_tasks) * 1000.0 / static_cast<double>(build_time_ms) : 0.0;
  j["cache_hit_rate"] = total_tasks ? static_cast<double>(cached_tasks) / static_cast<double>(total_tasks) : 0.0;
  j["bytes_uploaded"] = bytes_uploaded;
  j["bytes_downloaded"] = bytes_downloaded;
  j["header_scans"] = header_scans;
  j["manifest_hits"] = manifest_hits;
  return j.dump(2) + "\n";
}

std::string Metrics::summary() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "zbuild: %llu tasks: %llu executed, %llu cached, %llu failed, %llu skipped, %llu retried in %.2f s "
                "(%llu header scans, %llu manifest hits; %llu B up, %llu B down)",
                static_cast<unsigned long long>(total_tasks), static_cast<unsigned long long>(executed_tasks),
                static_cast<unsigned long long>(cached_tasks), static_cast<unsigned long long>(failed_tasks),
                static_cast<unsigned long long>(skipped_tasks), static_cast<unsigned long long>(retried_tasks),
                static_cast<double>(build_time_ms) / 1000.0, static_cast<unsigned long long>(header_scans),
                static_cast<unsigned long long>(manifest_hits), static_cast<unsigned long long>(bytes_uploaded),
                static_cast<unsigned long long>(bytes_downloaded));
  return buf;
}

}  // namespace zbuild::client
