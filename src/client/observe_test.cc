// Metrics, timeline/trace, report and progress: what a user sees of a build.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/metrics.h"
#include "client/progress.h"
#include "client/report.h"
#include "client/trace.h"
#include "common/fs.h"

using namespace zbuild::client;
using zbuild::wire::TaskState;

namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000;   // a wall-clock origin, microseconds

TaskReport ran(uint32_t index, const std::string& worker, int slot, int64_t ready_ms, int64_t start_ms,
               int64_t end_ms) {
  TaskReport r;
  r.index = index;
  r.id = "t" + std::to_string(index);
  r.state = TaskState::Done;
  r.worker = worker;
  r.slot = slot;
  r.attempts = 1;
  r.ready_us = kT0 + ready_ms * 1000;
  r.start_us = kT0 + start_ms * 1000;
  r.end_us = kT0 + end_ms * 1000;
  r.duration_ms = end_ms - start_ms;
  r.run_ms = end_ms - start_ms;
  return r;
}

// a -> {b, c} -> d: a 100 ms, b 300 ms, c 50 ms, d 100 ms on two slots.
Timeline diamond() {
  Timeline t({"t0", "t1", "t2", "t3"}, {{}, {0}, {0}, {1, 2}});
  t.on_event(ran(0, "w1", 0, 0, 0, 100));
  t.on_event(ran(1, "w1", 0, 100, 100, 400));
  t.on_event(ran(2, "w2", 0, 100, 120, 170));
  t.on_event(ran(3, "w2", 0, 400, 420, 520));
  return t;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("zbuild-observe-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

}  // namespace

TEST_CASE("the timeline yields the critical path, the lower bound and the efficiency") {
  auto s = diamond().summarize(2);
  REQUIRE(s.critical_path == std::vector<uint32_t>{0, 1, 3});
  REQUIRE(s.critical_path_ms == 500);
  REQUIRE(s.total_work_ms == 550);
  REQUIRE(s.lower_bound_ms == 500);   // max(500, 550 / 2)
  REQUIRE(s.makespan_ms == 520);
  REQUIRE(s.wait_for_worker_ms == 40);   // c waited 20 ms, d 20 ms
  REQUIRE(s.efficiency == Approx(500.0 / 520.0));
  // One slot: the work is the bound.
  REQUIRE(diamond().summarize(1).lower_bound_ms == 550);
  // Unknown pool: the slots seen running tasks.
  REQUIRE(diamond().summarize(0).slots == 2);
}

TEST_CASE("cached and skipped tasks cost no work and lie on no critical path") {
  Timeline t({"a", "b", "c"}, {{}, {0}, {1}});
  TaskReport c;
  c.index = 0;
  c.state = TaskState::Cached;
  c.ready_us = c.end_us = kT0;
  t.on_event(c);
  t.on_event(ran(1, "w", 0, 0, 0, 30));
  TaskReport sk;
  sk.index = 2;
  sk.state = TaskState::Skipped;
  t.on_event(sk);
  auto s = t.summarize(4);
  REQUIRE(s.critical_path == std::vector<uint32_t>{1});
  REQUIRE(s.total_work_ms == 30);
  REQUIRE(s.critical_path_ms == 30);
  Timeline none({"a"}, {{}});
  none.on_event(c);
  REQUIRE(none.summarize(2).efficiency == 0.0);
}

TEST_CASE("the trace has one row per worker slot, nested steps and the zbuild section") {
  Timeline t = diamond();
  TaskReport r = ran(1, "w1", 0, 100, 100, 400);
  r.fetch_ms = 20;
  r.run_ms = 250;
  r.upload_ms = 10;
  t.on_event(r);
  auto s = t.summarize(2);
  auto doc = nlohmann::json::parse(t.trace_json(s, "{\"total_tasks\": 4}", "g.json"));
  int tasks = 0, rows = 0, steps = 0, queue_begins = 0;
  for (auto& e : doc["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name" && e["pid"] == 1) rows++;
    if (e["ph"] == "X" && e["cat"] == "task") {
      tasks++;
      REQUIRE(e["ts"].get<int64_t>() >= 0);
    }
    if (e["ph"] == "X" && (e["cat"] == "fetch" || e["cat"] == "run" || e["cat"] == "upload")) steps++;
    if (e["ph"] == "b") queue_begins++;
  }
  REQUIRE(tasks == 4);
  REQUIRE(rows == 2);
  REQUIRE(steps == 3 + 3);   // t1: fetch, run, upload; t0, t2, t3: run only
  REQUIRE(queue_begins == 2);
  auto& z = doc["zbuild"];
  REQUIRE(z["version"] == 1);
  REQUIRE(z["name"] == "g.json");
  REQUIRE(z["metrics"]["total_tasks"] == 4);
  REQUIRE(z["tasks"].size() == 4);
  REQUIRE(z["tasks"][1]["critical"] == true);
  REQUIRE(z["tasks"][2]["critical"] == false);
  REQUIRE(z["tasks"][3]["start_us"] == 420000);
  // t1 held its slot for its run and upload (260 ms), not its whole 300 ms span: the fetch
  // happens on the worker's main thread, and the span may include a wait in its queue.
  REQUIRE(z["summary"]["lower_bound_ms"] == 460);
}

// Three tasks: one ran on worker "w" for 40 ms, two were cache hits.
static Metrics one_ran_two_cached() {
  Metrics m;
  m.total_tasks = 3;
  m.on_event(ran(0, "w", 0, 0, 0, 40));
  TaskReport c;
  c.state = TaskState::Cached;
  m.on_event(c);
  m.on_event(c);
  return m;
}

TEST_CASE("metrics JSON keeps the version-1 keys and adds the schedule") {
  Metrics m = one_ran_two_cached();
  m.build_time_ms = 2000;
  m.set_pool(R"({"workers":[{"id":"a","slots":2},{"id":"b","slots":3}]})");
  auto j = nlohmann::json::parse(m.to_json());
  for (const char* k : {"total_tasks", "cached_tasks", "executed_tasks", "failed_tasks", "retried_tasks",
                        "skipped_tasks", "build_time_ms", "header_scans", "total_build_time_ms", "num_workers",
                        "critical_path_ms", "lower_bound_ms", "efficiency", "wait_for_worker_ms"}) {
    INFO(k);
    REQUIRE(j.contains(k));
  }
  REQUIRE(j["num_workers"] == 2);
  REQUIRE(j["total_slots"] == 5);
  REQUIRE(j["completed_tasks"] == 3);
  REQUIRE(j["cache_hit_rate"].get<double>() == Approx(2.0 / 3.0));
  REQUIRE(j["tasks_per_second"].get<double>() == Approx(1.5));
  m.set_pool("not json");
  REQUIRE(m.num_workers == 2);
}

TEST_CASE("the CSV gets its header once and refuses a file with other columns") {
  std::string path = temp_path("metrics.csv");
  std::remove(path.c_str());
  Metrics m;
  m.total_tasks = 7;
  REQUIRE(m.append_csv(path).ok());
  m.cached_tasks = 7;
  REQUIRE(m.append_csv(path).ok());
  auto text = zbuild::read_file(path);
  REQUIRE(text.ok());
  REQUIRE(text.value().rfind(Metrics::csv_header(), 0) == 0);
  REQUIRE(std::count(text.value().begin(), text.value().end(), '\n') == 3);
  REQUIRE(Metrics::csv_header().rfind("num_workers,total_tasks,completed_tasks,cached_tasks,failed_tasks,", 0) == 0);
  REQUIRE(zbuild::write_file_atomic(path, "a,b\n1,2\n").ok());
  REQUIRE_FALSE(m.append_csv(path).ok());
  std::remove(path.c_str());
}

namespace {

// The cell of column `name` in a CSV `header` and `row` (both with their newline).
std::string csv_column(const std::string& header, const std::string& row, const std::string& name) {
  auto split = [](const std::string& line) {
    std::vector<std::string> out;
    std::string cell;
    for (char ch : line) {
      if (ch == ',' || ch == '\n') {
        out.push_back(cell);
        cell.clear();
      } else {
        cell += ch;
      }
    }
    return out;
  };
  auto names = split(header), cells = split(row);
  REQUIRE(names.size() == cells.size());
  auto it = std::find(names.begin(), names.end(), name);
  REQUIRE(it != names.end());
  return cells[static_cast<size_t>(it - names.begin())];
}

}  // namespace

TEST_CASE("the CSV reports the cache hit rate as a percentage after the existing columns") {
  Metrics m = one_ran_two_cached();
  const std::string header = Metrics::csv_header();
  REQUIRE(header.find(",tasks_per_second,cache_hit_rate,bytes_uploaded,") != std::string::npos);
  const std::string last = ",header_scans,manifest_hits,cache_hit_percent,builtin_scans\n";   // added at the end
  REQUIRE(header.size() > last.size());
  REQUIRE(header.compare(header.size() - last.size(), last.size(), last) == 0);
  REQUIRE(csv_column(header, m.csv_row(), "cache_hit_rate") == "0.6667");
  REQUIRE(csv_column(header, m.csv_row(), "cache_hit_percent") == "66.6667");
  REQUIRE(nlohmann::json::parse(m.to_json())["cache_hit_percent"].get<double>() == Approx(200.0 / 3.0));
  m.cached_tasks = 3;
  REQUIRE(csv_column(header, m.csv_row(), "cache_hit_percent") == "100.0000");
  Metrics empty;   // no tasks: 0, not a division by zero
  REQUIRE(csv_column(header, empty.csv_row(), "cache_hit_percent") == "0.0000");
}

TEST_CASE("a CSV begun by an earlier zbuild keeps getting rows of its own columns") {
  std::string path = temp_path("old-metrics.csv");
  const std::string header = Metrics::csv_header();
  const std::string old_header = header.substr(0, header.rfind(",cache_hit_percent")) + "\n";
  Metrics m;
  m.total_tasks = 4;
  m.cached_tasks = 1;
  const std::string old_row = m.csv_row(static_cast<size_t>(std::count(old_header.begin(), old_header.end(), ',')) + 1);
  REQUIRE(zbuild::write_file_atomic(path, old_header + old_row).ok());
  REQUIRE(m.append_csv(path).ok());
  auto text = zbuild::read_file(path);
  REQUIRE(text.ok());
  REQUIRE(text.value() == old_header + old_row + old_row);
  // A header that is not a prefix of ours at a column boundary is still refused.
  REQUIRE(zbuild::write_file_atomic(path, "num_workers,total_tas\n1,2\n").ok());
  REQUIRE_FALSE(m.append_csv(path).ok());
  std::remove(path.c_str());
}

TEST_CASE("the report page embeds the data safely and rejects what is not a zbuild trace") {
  Timeline t({"<script>alert(1)</script>", "b"}, {{}, {0}});
  t.on_event(ran(0, "w", 0, 0, 0, 10));
  t.on_event(ran(1, "w", 1, 10, 10, 20));
  auto html = render_report(t.trace_json(t.summarize(2), "{}", "g"));
  REQUIRE(html.ok());
  REQUIRE(html.value().find("<script>alert") == std::string::npos);
  REQUIRE(html.value().find("\\u003cscript>alert") != std::string::npos);
  // Self-contained: nothing is loaded from elsewhere.
  REQUIRE(html.value().find(" src=") == std::string::npos);
  REQUIRE(html.value().find("href=") == std::string::npos);
  REQUIRE(html.value().find("@import") == std::string::npos);
  REQUIRE_FALSE(render_report("{\"traceEvents\": []}").ok());
  REQUIRE_FALSE(render_report("nonsense").ok());
}

TEST_CASE("progress prints plain lines when not on a terminal, one status line on one") {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  {
    Progress p(4, false, out, err, 0);
    TaskReport r = ran(0, "w1", 0, 0, 0, 1);
    r.id = "obj/a.o";
    p.on_event(r);
    TaskReport f;
    f.id = "obj/b.o";
    f.state = TaskState::Failed;
    f.exit_code = 1;
    f.worker = "w2";
    f.err = "b.cc:1: error\n";
    p.on_event(f);
    TaskReport hit;   // from the action cache: the worker that built it is not running it now
    hit.id = "obj/c.o";
    hit.state = TaskState::Cached;
    hit.worker = "launch-7";
    p.on_event(hit);
    TaskReport bare;
    bare.id = "obj/d.o";
    bare.state = TaskState::Cached;
    p.on_event(bare);
    p.finish();
  }
  auto slurp = [](std::FILE* f) {
    std::string s(static_cast<size_t>(std::ftell(f)), '\0');
    std::rewind(f);
    REQUIRE(std::fread(s.data(), 1, s.size(), f) == s.size());
    return s;
  };
  std::string o = slurp(out);
  REQUIRE(o.find("[1/4] done obj/a.o on w1\n") != std::string::npos);
  REQUIRE(o.find("FAILED: obj/b.o (exit code 1, worker w2)\n") != std::string::npos);
  REQUIRE(o.find("[2/4] failed obj/b.o on w2\n") != std::string::npos);
  REQUIRE(o.find("[3/4] cached obj/c.o (built by launch-7)\n") != std::string::npos);
  REQUIRE(o.find("[4/4] cached obj/d.o\n") != std::string::npos);
  REQUIRE(o.find(" on launch-7") == std::string::npos);
  REQUIRE(slurp(err) == "b.cc:1: error\n");
  std::fclose(out);
  std::fclose(err);

  std::FILE* tty = std::tmpfile();
  {
    Progress p(3, false, tty, tty, 40);
    TaskReport c;
    c.id = "a-very-long-task-name-that-does-not-fit-the-terminal";
    c.state = TaskState::Cached;
    p.on_event(c);
    p.finish();
  }
  std::string t = slurp(tty);
  REQUIRE(t.rfind("\r[1/3] 0 running, 1 cached, 0 failed", 0) == 0);
  auto first = t.substr(1, t.find('\x1b') - 1);
  REQUIRE(first.size() == 39);   // cut to the terminal's width
  REQUIRE(t.back() == '\n');
  std::fclose(tty);
}

TEST_CASE("progress: status line redrawn at most every 100 ms, rate and ETA on its clock") {
  zbuild::FakeClock clock(0);
  std::FILE* tty = std::tmpfile();
  {
    Progress p(4, false, tty, tty, 200, &clock);
    TaskReport r;
    r.state = TaskState::Running;
    r.id = "a";
    r.index = 0;
    p.on_event(r);          // the first line is drawn
    r.id = "b";
    r.index = 1;
    p.on_event(r);          // 0 ms later: not redrawn
    clock.advance(99);
    r.id = "c";
    r.index = 2;
    p.on_event(r);          // 99 ms: not redrawn
    clock.advance(1);
    r.id = "d";
    r.index = 3;
    p.on_event(r);          // 100 ms: redrawn
    clock.advance(2000);
    r.id = "a";
    r.index = 0;
    r.state = TaskState::Done;
    p.on_event(r);          // one finished in 2.1 s: 0.5/s, three left, ETA 6 s
  }
  std::fseek(tty, 0, SEEK_SET);
  std::string t;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, tty)) > 0;) t.append(buf, n);
  std::fclose(tty);
  size_t draws = 0;
  for (size_t pos = t.find("\r["); pos != std::string::npos; pos = t.find("\r[", pos + 1)) ++draws;
  CHECK(draws == 3);
  CHECK(t.find(" b\x1b") == std::string::npos);
  CHECK(t.find(" c\x1b") == std::string::npos);
  CHECK(t.find("[0/4] 4 running, 0 cached, 0 failed, 0.0/s, ETA ? d") != std::string::npos);
  CHECK(t.find("[1/4] 3 running, 0 cached, 0 failed, 0.5/s, ETA 0:06 a") != std::string::npos);
}

TEST_CASE("progress: a task never announced as running (a short one) finishes without changing the running count") {
  zbuild::FakeClock clock(0);
  std::FILE* tty = std::tmpfile();
  {
    Progress p(3, false, tty, tty, 200, &clock);
    TaskReport r;
    r.state = TaskState::Running;
    r.id = "long";
    r.index = 0;
    p.on_event(r);
    clock.advance(200);
    r.state = TaskState::Done;
    r.id = "short";
    r.index = 1;
    p.on_event(r);          // its final event alone: "long" still runs
  }
  std::fseek(tty, 0, SEEK_SET);
  std::string t;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, tty)) > 0;) t.append(buf, n);
  std::fclose(tty);
  CHECK(t.find("[1/3] 1 running, 0 cached, 0 failed") != std::string::npos);
}
