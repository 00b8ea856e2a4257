// Per-build metrics, counted from the events the daemon sent. `--metrics-out` writes them as
// JSON (format version 1, see docs/metrics.md).
#pragma once

#include <cstdint>
#include <string>

#include "client/progress.h"

namespace zbuild::client {

struct Metrics {
  uint64_t total_tasks = 0;
  uint64_t cached_tasks = 0;
  uint64_t executed_tasks = 0;
  uint64_t failed_tasks = 0;
  uint64_t skipped_tasks = 0;
  uint64_t retried_tasks = 0;
  int64_t build_time_ms = 0;
  int64_t prepare_ms = 0;
  int64_t min_task_ms = -1;
  int64_t max_task_ms = 0;
  int64_t sum_task_ms = 0;
  uint64_t bytes_uploaded = 0;
  uint64_t bytes_downloaded = 0;
  uint64_t header_scans = 0;
  uint64_t manifest_hits = 0;

  void on_event(const TaskReport& r);
  std::string to_json() const;
  std::string summary() const;
};

}  // namespace zbuild::client
