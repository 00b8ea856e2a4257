#include "client/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace zbuild::client {

namespace {
int64_t mono_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Progress::Progress(size_t total, bool quiet)
    : total_(total), quiet_(quiet), tty_(::isatty(1) != 0), start_ms_(mono_ms()) {}

void Progress::status_line() {
  double secs = static_cast<double>(mono_ms() - start_ms_) / 1000.0;
  double rate = secs > 0 ? static_cast<double>(finished_) / secs : 0;
  double eta = rate > 0 ? static_cast<double>(total_ - finished_) / rate : 0;
  std::fprintf(stdout, "\r[%zu/%zu] %zu running, %zu cached, %zu failed, %.1f/s, ETA %.0fs\x1b[K", finished_, total_,
               running_, cached_, failed_, rate, eta);
  std::fflush(stdout);
  line_open_ = true;
}

void Progress::on_event(const TaskReport& r) {
  using S = wire::TaskState;
  if (r.state == S::Running) {
    running_++;
  } else {
    if (r.state != S::Skipped && r.state != S::Cached && running_ > 0) running_--;
    finished_++;
    if (r.state == S::Cached) cached_++;
    if (r.state == S::Failed) failed_++;
  }
  bool show_output = (r.state == S::Done || r.state == S::Cached) && (!r.out.empty() || !r.err.empty());
  if (r.state == S::Failed || show_output) {
    if (line_open_) std::fprintf(stdout, "\n");
    line_open_ = false;
    if (r.state == S::Failed) {
      if (!r.message.empty()) {
        std::fprintf(stdout, "FAILED: %s: %s\n", r.id.c_str(), r.message.c_str());
      } else {
        std::fprintf(stdout, "FAILED: %s (exit code %d, worker %s)\n", r.id.c_str(), r.exit_code, r.worker.c_str());
      }
    }
    std::fflush(stdout);
    if (!r.out.empty()) std::fwrite(r.out.data(), 1, r.out.size(), stdout);
    std::fflush(stdout);
    if (!r.err.empty()) std::fwrite(r.err.data(), 1, r.err.size(), stderr);
    std::fflush(stderr);
  }
  if (quiet_) return;
  if (tty_) {
    status_line();
  } else if (r.state != S::Running) {
    const char* what = r.state == S::Cached ? "cached" : r.state == S::Done ? "done" : r.state == S::Failed ? "failed" : "skipped";
    std::fprintf(stdout, "[%zu/%zu] %s %s%s%s\n", finished_, total_, what, r.id.c_str(),
                 r.worker.empty() || r.state == S::Skipped ? "" : " on ", r.state == S::Skipped ? "" : r.worker.c_str());
    std::fflush(stdout);   // progress is read live from pipes (CI logs, tests)
  }
}

void Progress::tick() {
  if (tty_ && !quiet_) status_line();
}

void Progress::finish() {
  if (line_open_) std::fprintf(stdout, "\n");
  line_open_ = false;
  std::fflush(stdout);
}

}  // namespace zbuild::client
