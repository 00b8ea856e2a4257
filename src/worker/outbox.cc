#include "worker/outbox.h"

namespace zbuild::worker {

std::vector<std::string> Outbox::add(std::vector<std::string> msgs, size_t queued, int64_t now_ms) {
  if (held_.empty()) since_ms_ = now_ms;
  for (auto& m : msgs) {
    bytes_ += m.size();
    held_.push_back(std::move(m));
  }
  tasks_++;
  // Held only while, after this slot takes its next task, another still waits: the daemon's
  // credit for these results is not needed to keep every slot busy.
  bool hold = queued >= limits_.queued && tasks_ < limits_.results && bytes_ < limits_.bytes && now_ms - since_ms_ < limits_.hold_ms;
  if (hold) return {};
  return take();
}

std::vector<std::string> Outbox::take() {
  std::vector<std::string> out;
  out.swap(held_);
  tasks_ = 0;
  bytes_ = 0;
  return out;
}

int64_t Outbox::due_in(int64_t now_ms) const {
  if (held_.empty()) return -1;
  int64_t left = since_ms_ + limits_.hold_ms - now_ms;
  return left > 0 ? left : 0;
}

}  // namespace zbuild::worker
