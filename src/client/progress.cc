#include "client/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/text.h"

namespace zbuild::client {

namespace {

// Columns of the terminal on stdout, 0 when stdout is not a terminal.
int terminal_width() {
  if (::isatty(1) == 0) return 0;
  winsize ws{};
  if (::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

// A redraw at most this often; events in between only update the counts.
constexpr int64_t kRedrawMs = 100;

const char* state_word(wire::TaskState s) {
  switch (s) {
    case wire::TaskState::Cached: return "cached";
    case wire::TaskState::Done: return "done";
    case wire::TaskState::Failed: return "failed";
    case wire::TaskState::Skipped: return "skipped";
    default: return "running";
  }
}

}  // namespace

Progress::Progress(size_t total, bool quiet) : Progress(total, quiet, stdout, stderr, terminal_width()) {}

Progress::Progress(size_t total, bool quiet, std::FILE* out, std::FILE* err, int tty_width, const Clock* clock)
    : total_(total),
      quiet_(quiet),
      out_(out),
      err_(err),
      width_(tty_width),
      clock_(clock ? *clock : steady_clock()),
      start_ms_(clock_.now_ms()) {}

// `[done/total] R running, C cached, F failed, 12.5/s, ETA 0:42 obj/last.o`, cut to the
// terminal's width and redrawn in place (like ninja's).
void Progress::status_line(bool force) {
  int64_t now = clock_.now_ms();
  if (!force && drawn_ms_ >= 0 && now - drawn_ms_ < kRedrawMs) return;
  drawn_ms_ = now;
  double secs = static_cast<double>(now - start_ms_) / 1000.0;
  double rate = secs > 0 ? static_cast<double>(finished_) / secs : 0;
  char eta[32] = "ETA ?";
  if (rate > 0 && finished_ > 0) {
    auto left = static_cast<long long>(static_cast<double>(total_ - finished_) / rate + 0.5);
    std::snprintf(eta, sizeof eta, "ETA %lld:%02lld", left / 60, left % 60);
  }
  char head[160];
  std::snprintf(head, sizeof head, "[%zu/%zu] %zu running, %zu cached, %zu failed, %.1f/s, %s ", finished_, total_,
                running_, cached_, failed_, rate, eta);
  std::string line = head + last_;
  size_t cols = width_ > 1 ? static_cast<size_t>(width_ - 1) : line.size();
  if (line.size() > cols) line.resize(cols);
  std::fprintf(out_, "\r%s\x1b[K", line.c_str());
  std::fflush(out_);
  line_open_ = true;
}

// A failure is announced with its reason; a finished task's stdout and stderr are shown as a
// local compile would show them. Our own framing (task ids, worker names, the daemon's
// messages) comes from the graph and from peers: escaped (common/text.h); the task's output
// is the compiler's, printed as it is.
void Progress::print_output(const TaskReport& r) {
  using S = wire::TaskState;
  if (line_open_) std::fprintf(out_, "\n");
  line_open_ = false;
  if (r.state == S::Failed) {
    if (!r.message.empty()) {
      std::fprintf(out_, "FAILED: %s: %s\n", printable(r.id).c_str(), printable(r.message).c_str());
    } else {
      std::fprintf(out_, "FAILED: %s (exit code %d, worker %s)\n", printable(r.id).c_str(), r.exit_code,
                   printable(r.worker).c_str());
    }
  }
  std::fflush(out_);
  if (!r.out.empty()) std::fwrite(r.out.data(), 1, r.out.size(), out_);
  std::fflush(out_);
  if (!r.err.empty()) std::fwrite(r.err.data(), 1, r.err.size(), err_);
  std::fflush(err_);
}

// `[n/N] done ID on WORKER` (tests and scripts parse this form). A cache hit names no worker
// as if it ran now: `[n/N] cached ID (built by WORKER)`, the worker that produced the result,
// which may be long gone.
void Progress::plain_line(const TaskReport& r) {
  const char* before = "";
  const char* after = "";
  if (!r.worker.empty() && r.state == wire::TaskState::Cached) {
    before = " (built by ";
    after = ")";
  } else if (!r.worker.empty() && r.state != wire::TaskState::Skipped) {
    before = " on ";
  }
  std::fprintf(out_, "[%zu/%zu] %s %s%s%s%s\n", finished_, total_, state_word(r.state), printable(r.id).c_str(),
               before, *before ? printable(r.worker).c_str() : "", after);
  std::fflush(out_);   // progress is read live from pipes (CI logs, tests)
}

void Progress::on_event(const TaskReport& r) {
  using S = wire::TaskState;
  // The daemon announces only tasks that run a while (a short one's final event comes alone).
  bool announced = r.index < running_now_.size() && running_now_[r.index];
  if (r.state == S::Running) {
    if (!announced && r.index < running_now_.size()) {
      running_now_[r.index] = 1;
      running_++;
    }
  } else {
    if (announced) {
      running_now_[r.index] = 0;
      if (running_ > 0) running_--;
    }
    finished_++;
    if (r.state == S::Cached) cached_++;
    if (r.state == S::Failed) failed_++;
  }
  last_ = printable(r.id);
  bool show_output = (r.state == S::Done || r.state == S::Cached) && (!r.out.empty() || !r.err.empty());
  if (r.state == S::Failed || show_output) print_output(r);
  if (quiet_) return;
  if (width_ > 0) {
    status_line(r.state == S::Failed || finished_ == total_);
  } else if (r.state != S::Running) {
    plain_line(r);
  }
}

void Progress::tick() {
  if (width_ > 0 && !quiet_) status_line(true);
}

void Progress::finish() {
  if (width_ > 0 && !quiet_ && drawn_ms_ >= 0) status_line(true);
  if (line_open_) std::fprintf(out_, "\n");
  line_open_ = false;
  std::fflush(out_);
}

}  // namespace zbuild::client
