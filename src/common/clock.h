// Clock: the seam for every heartbeat, lease and timeout decision, so that logic is tested
// with FakeClock instead of sleeps.
#pragma once

#include <chrono>
#include <cstdint>

namespace zbuild {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds since an arbitrary epoch.
  virtual int64_t now_ms() const = 0;
};

class SteadyClock final : public Clock {
 public:
  int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start = 1000) : now_(start) {}
  int64_t now_ms() const override { return now_; }
  void advance(int64_t ms) { now_ += ms; }
  void set(int64_t ms) { now_ = ms; }

 private:
  int64_t now_;
};

// Wall-clock microseconds since the Unix epoch (for traces and reports only).
int64_t wall_us();

}  // namespace zbuild
