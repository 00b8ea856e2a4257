// Recency stamps for least-recently-used eviction (memory and RocksDB stores), internal to
// src/store. A stamp is the store's clock in milliseconds, made strictly increasing so that
// entries touched within one millisecond (or under a FakeClock that stands still) still keep
// their order. A reopened store continues after the largest stamp it holds, so a clock that
// restarted lower (a steady clock after a reboot) cannot make new entries look old.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/clock.h"

namespace zbuild::store {

class Recency {
 public:
  explicit Recency(const Clock* clock) : clock_(clock ? clock : &steady_clock()) {}

  // Called once at open with the largest stamp already stored (0 when none).
  void continue_after(int64_t last) {
    last_ = std::max(last_, last);
    offset_ = std::max<int64_t>(0, last - clock_->now_ms());
  }

  int64_t next() {
    last_ = std::max(clock_->now_ms() + offset_, last_ + 1);
    return last_;
  }

  int64_t now_ms() const { return clock_->now_ms(); }

 private:
  const Clock* clock_;
  int64_t offset_ = 0;
  int64_t last_ = 0;
};

}  // namespace zbuild::store
