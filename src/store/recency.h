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
  // `refresh_ms` > 0: recent() holds for stamps younger than that (0: never).
  explicit Recency(const Clock* clock, int64_t refresh_ms = 0)
      : clock_(clock ? clock : &steady_clock()), refresh_ms_(std::max<int64_t>(0, refresh_ms)) {}

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

  // A hit on an entry stamped `stamp` need not refresh it: its stamp is younger than the
  // refresh window (StoreOptions::refresh_ms).
  bool recent(int64_t stamp) const { return refresh_ms_ > 0 && clock_->now_ms() + offset_ - stamp < refresh_ms_; }

 private:
  const Clock* clock_;
  const int64_t refresh_ms_;
  int64_t offset_ = 0;
  int64_t last_ = 0;
};

}  // namespace zbuild::store
