// Clock: the seam for every heartbeat, lease, timeout, retry and back-off decision, so that
// logic is tested with FakeClock instead of sleeps (leveldb's Env: time and sleeping behind one
// interface). Code that cannot be handed a Clock object — the process runner `run_process`, and
// zbuild-cc (src/runner), one short-lived process per compile whose timing is only measured,
// never tested — calls the free functions mono_ms()/mono_us() instead; they are the only
// other readers of std::chrono::steady_clock in src/.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

namespace zbuild {

// Monotonic milliseconds / microseconds since an arbitrary epoch (std::chrono::steady_clock).
inline int64_t mono_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline int64_t mono_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds since an arbitrary epoch.
  virtual int64_t now_ms() const = 0;
  // Waits `ms` milliseconds (a FakeClock moves its time on instead of waiting).
  virtual void sleep_ms(int64_t ms) const = 0;
};

class SteadyClock final : public Clock {
 public:
  int64_t now_ms() const override { return mono_ms(); }
  void sleep_ms(int64_t ms) const override {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
};

// One process-wide SteadyClock for code that takes an optional clock (null: this one).
inline const Clock& steady_clock() {
  static const SteadyClock clock;
  return clock;
}

// Time stands still until the test moves it: advance(), set(), or a sleep_ms() of the code
// under test (which returns at once). Not thread-safe: one test thread drives it.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start = 1000) : now_(start) {}
  int64_t now_ms() const override { return now_; }
  void sleep_ms(int64_t ms) const override {
    if (ms <= 0) return;
    now_ += ms;
    slept_ms_ += ms;
  }
  void advance(int64_t ms) { now_ += ms; }
  void set(int64_t ms) { now_ = ms; }
  // Total of the sleep_ms() calls so far.
  int64_t slept_ms() const { return slept_ms_; }

 private:
  mutable int64_t now_;
  mutable int64_t slept_ms_ = 0;
};

// A time limit on a Clock: `Deadline d(clock, 3000)` expires 3000 ms after it was made.
class Deadline {
 public:
  Deadline(const Clock& clock, int64_t ms) : clock_(&clock), at_ms_(clock.now_ms() + ms) {}
  bool expired() const { return clock_->now_ms() >= at_ms_; }
  int64_t remaining_ms() const { return std::max<int64_t>(0, at_ms_ - clock_->now_ms()); }

 private:
  const Clock* clock_;
  int64_t at_ms_;
};

// The wait before each retry of something that keeps failing: `first_ms`, then doubled at each
// failure in a row up to `max_ms`; reset() after a success starts again from `first_ms`.
class Backoff {
 public:
  Backoff(int64_t first_ms, int64_t max_ms) : first_ms_(first_ms), max_ms_(max_ms), next_ms_(first_ms) {}
  // The wait before the next retry (and the one after is longer).
  int64_t next_ms() {
    int64_t wait = next_ms_;
    next_ms_ = std::min<int64_t>(next_ms_ * 2, max_ms_);
    return wait;
  }
  void reset() { next_ms_ = first_ms_; }

 private:
  int64_t first_ms_;
  int64_t max_ms_;
  int64_t next_ms_;
};

// Wall-clock microseconds since the Unix epoch (for traces and reports only).
int64_t wall_us();

}  // namespace zbuild
