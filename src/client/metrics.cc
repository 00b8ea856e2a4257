#include "client/metrics.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace zbuild::client {

namespace {

double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

std::string csv_cell(const Metrics::Value& v) {
  char buf[64];
  if (auto* d = std::get_if<double>(&v)) {
    std::snprintf(buf, sizeof buf, "%.4f", *d);
  } else if (auto* i = std::get_if<int64_t>(&v)) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(*i));
  } else {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(std::get<uint64_t>(v)));
  }
  return buf;
}

}  // namespace

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

void Metrics::set_pool(const std::string& status_json) {
  auto j = nlohmann::json::parse(status_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("workers") || !j["workers"].is_array()) return;
  num_workers = j["workers"].size();
  total_slots = 0;
  for (auto& w : j["workers"]) {
    if (w.contains("slots") && w["slots"].is_number_integer() && w["slots"].get<int64_t>() > 0) {
      total_slots += w["slots"].get<uint64_t>();
    }
  }
}

std::vector<std::pair<const char*, Metrics::Value>> Metrics::fields() const {
  const uint64_t completed = cached_tasks + executed_tasks;
  const double secs = static_cast<double>(build_time_ms) / 1000.0;
  return {
      // The columns every build tool of this kind reports, in this order.
      {"num_workers", num_workers},
      {"total_tasks", total_tasks},
      {"completed_tasks", completed},
      {"cached_tasks", cached_tasks},
      {"failed_tasks", failed_tasks},
      {"retried_tasks", retried_tasks},
      {"total_build_time_ms", build_time_ms},
      {"min_task_time_ms", min_task_ms < 0 ? int64_t{0} : min_task_ms},
      {"max_task_time_ms", max_task_ms},
      {"avg_task_time_ms", ratio(static_cast<double>(sum_task_ms), static_cast<double>(executed_tasks))},
      {"tasks_per_second", ratio(static_cast<double>(completed), secs)},
      {"cache_hit_rate", ratio(static_cast<double>(cached_tasks), static_cast<double>(total_tasks))},
      // What zbuild knows beyond them.
      {"bytes_uploaded", bytes_uploaded},
      {"bytes_downloaded", bytes_downloaded},
      {"wait_for_worker_ms", schedule.wait_for_worker_ms},
      {"critical_path_ms", schedule.critical_path_ms},
      {"lower_bound_ms", schedule.lower_bound_ms},
      {"efficiency", schedule.efficiency},
      {"executed_tasks", executed_tasks},
      {"skipped_tasks", skipped_tasks},
      {"total_slots", total_slots},
      {"makespan_ms", schedule.makespan_ms},
      {"total_work_ms", schedule.total_work_ms},
      {"prepare_ms", prepare_ms},
      {"header_scans", header_scans},
      {"manifest_hits", manifest_hits},
      {"cache_hit_percent", 100.0 * ratio(static_cast<double>(cached_tasks), static_cast<double>(total_tasks))},
      {"builtin_scans", builtin_scans},
  };
}

std::string Metrics::to_json() const {
  nlohmann::json j;
  j["version"] = 1;
  j["build_time_ms"] = build_time_ms;   // the name of total_build_time_ms since version 1
  for (auto& [name, v] : fields()) {
    std::visit([&](auto x) { j[name] = x; }, v);
  }
  return j.dump(2) + "\n";
}

std::string Metrics::csv_header() {
  std::string h;
  for (auto& [name, _] : Metrics().fields()) h += (h.empty() ? "" : ",") + std::string(name);
  return h + "\n";
}

std::string Metrics::csv_row(size_t columns) const {
  std::string r;
  size_t n = 0;
  for (auto& [_, v] : fields()) {
    if (n++ == columns) break;
    r += (r.empty() ? "" : ",") + csv_cell(v);
  }
  return r + "\n";
}

Status Metrics::append_csv(const std::string& path) const {
  std::string text;
  if (auto old = read_file(path); old.ok()) text = std::move(old.value());
  const std::string header = csv_header();
  const std::string names = header.substr(0, header.size() - 1);   // without the newline
  size_t columns = SIZE_MAX;
  if (const std::string first = text.substr(0, text.find('\n')); !text.empty() && first != names) {
    // Columns are only ever added at the end, so a file an earlier zbuild began has a prefix of
    // today's header: it keeps getting rows of its own columns.
    if (first.empty() || first.size() >= names.size() || names.compare(0, first.size(), first) != 0 ||
        names[first.size()] != ',') {
      return make_error(path + ": exists with other columns (not a zbuild metrics CSV); nothing appended");
    }
    columns = static_cast<size_t>(std::count(first.begin(), first.end(), ',')) + 1;
  }
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) return make_error(path + ": cannot open for appending");
  std::string add = (text.empty() ? header : "") + csv_row(columns);
  if (!text.empty() && text.back() != '\n') add = "\n" + add;
  bool ok = std::fwrite(add.data(), 1, add.size(), f) == add.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) return make_error(path + ": write failed");
  return {};
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
  std::string s = buf;
  if (executed_tasks > 0 && schedule.makespan_ms > 0) {
    std::snprintf(buf, sizeof buf,
                  "\nzbuild: schedule: makespan %.2f s, lower bound %.2f s (critical path %.2f s, work %.2f s on %llu "
                  "slots), efficiency %.0f%%, waited for a worker %.2f s in total",
                  static_cast<double>(schedule.makespan_ms) / 1000.0,
                  static_cast<double>(schedule.lower_bound_ms) / 1000.0,
                  static_cast<double>(schedule.critical_path_ms) / 1000.0,
                  static_cast<double>(schedule.total_work_ms) / 1000.0,
                  static_cast<unsigned long long>(schedule.slots), schedule.efficiency * 100.0,
                  static_cast<double>(schedule.wait_for_worker_ms) / 1000.0);
    s += buf;
  }
  return s;
}

}  // namespace zbuild::client
