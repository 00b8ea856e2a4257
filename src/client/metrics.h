// Per-build metrics, counted from the events the daemon sent. `--metrics-out` writes them as
// JSON and `--csv-out` appends them as one CSV row (format version 1, see docs/metrics.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "client/progress.h"
#include "client/trace.h"
#include "common/result.h"

namespace zbuild::client {

struct Metrics {
  // Tasks by how they ended (docs/metrics.md).
  uint64_t total_tasks = 0, cached_tasks = 0, executed_tasks = 0, failed_tasks = 0, skipped_tasks = 0,
           retried_tasks = 0;
  int64_t build_time_ms = 0;
  int64_t prepare_ms = 0;
  int64_t min_task_ms = -1;
  int64_t max_task_ms = 0;
  int64_t sum_task_ms = 0;
  uint64_t bytes_uploaded = 0, bytes_downloaded = 0;
  uint64_t header_scans = 0, manifest_hits = 0;
  uint64_t builtin_scans = 0;   // of header_scans, by the in-process scanner (last CSV column)
  // The worker pool when the build started (from the daemon's status).
  uint64_t num_workers = 0, total_slots = 0;
  // From the build's timeline (client/trace.h).
  ScheduleSummary schedule;

  void on_event(const TaskReport& r);
  // Reads num_workers and total_slots from `zbuild status --json` text; ignores bad input.
  void set_pool(const std::string& status_json);

  using Value = std::variant<int64_t, uint64_t, double>;
  // Every metric by name, in CSV column order (the JSON has them all too).
  std::vector<std::pair<const char*, Value>> fields() const;

  std::string to_json() const;
  static std::string csv_header();
  // The first `columns` fields (all by default).
  std::string csv_row(size_t columns = SIZE_MAX) const;
  // Appends csv_row() to `path`, writing csv_header() first when the file is new or empty.
  // A file begun by an earlier zbuild (its header a prefix of today's: columns are only added
  // at the end) gets rows of its own columns; any other header is left alone (an error names it).
  Status append_csv(const std::string& path) const;
  std::string summary() const;
};

}  // namespace zbuild::client
