// Build progress as the user sees it: a ninja-style status line on a terminal, plain lines
// otherwise; failures printed as they happen with the task's stderr.
#pragma once

#include <cstdint>
#include <string>

#include "zbuild_generated.h"

namespace zbuild::client {

struct TaskReport {
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
  Progress(size_t total, bool quiet);
  void on_event(const TaskReport& r);
  void tick();
  void finish();

 private:
  void status_line();
  size_t total_;
  bool quiet_;
  bool tty_;
  size_t finished_ = 0, running_ = 0, cached_ = 0, failed_ = 0;
  int64_t start_ms_;
  bool line_open_ = false;
};

}  // namespace zbuild::client
