// Build progress as the user sees it: a ninja-style status line on a terminal, plain lines
// otherwise; failures printed as they happen with the task's stderr.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/clock.h"
#include "zbuild_generated.h"

namespace zbuild::client {

struct TaskReport {
  uint32_t index = 0;         // the task's position in the graph
  std::string id;
  wire::TaskState state = wire::TaskState::Queued;
  int exit_code = 0;
  std::string out;
  std::string err;
  std::string worker;
  int64_t duration_ms = 0;
  int attempts = 0;
  std::string message;
  // Timeline of the final attempt (see TaskEvent in schemas/zbuild.fbs).
  int64_t ready_us = 0, start_us = 0, end_us = 0;
  int64_t fetch_ms = 0, run_ms = 0, upload_ms = 0;
  int slot = -1;
};

class Progress {
 public:
  // Writes to stdout/stderr; a status line when stdout is a terminal.
  Progress(size_t total, bool quiet);
  // For tests: explicit streams, terminal width (tty_width 0 = not a terminal) and clock (the
  // redraw throttle and the rate; null: a steady clock).
  Progress(size_t total, bool quiet, std::FILE* out, std::FILE* err, int tty_width, const Clock* clock = nullptr);
  void on_event(const TaskReport& r);
  void tick();
  void finish();

 private:
  void status_line(bool force);
  void print_output(const TaskReport& r);
  void plain_line(const TaskReport& r);
  size_t total_;
  bool quiet_;
  std::FILE* out_;
  std::FILE* err_;
  int width_;                 // terminal columns; 0 when stdout is not a terminal
  const Clock& clock_;
  size_t finished_ = 0, running_ = 0, cached_ = 0, failed_ = 0;
  std::vector<char> running_now_ = std::vector<char>(total_, 0);   // per task: announced running, not yet final
  int64_t start_ms_;
  int64_t drawn_ms_ = -1;     // when the status line was last drawn (redraws are throttled)
  std::string last_;          // the task the status line names
  bool line_open_ = false;
};

}  // namespace zbuild::client
