// SilenceWatch: what zbuild submit does when the daemon says nothing, on the Clock seam.
#pragma once

#include <cstdint>

#include "common/clock.h"

namespace zbuild::client {

// Silence from the daemon while a build runs (zbuild submit): after each wait for a message
// that timed out, silent() says whether to ask for a status reply (at once at the first
// silence, then every `ping_every_ms`) or to give the daemon up (silent for more than
// `lost_after_ms`). heard() on every message.
class SilenceWatch {
 public:
  enum class Action { wait, ping, lost };
  SilenceWatch(const Clock& clock, int64_t lost_after_ms, int64_t ping_every_ms)
      : clock_(clock), lost_after_ms_(lost_after_ms), ping_every_ms_(ping_every_ms), heard_ms_(clock.now_ms()) {}
  void heard() { heard_ms_ = clock_.now_ms(); }
  Action silent() {
    int64_t now = clock_.now_ms();
    if (now - heard_ms_ > lost_after_ms_) return Action::lost;
    if (!pinged_ || now - pinged_ms_ > ping_every_ms_) {
      pinged_ = true;
      pinged_ms_ = now;
      return Action::ping;
    }
    return Action::wait;
  }
  int64_t silent_ms() const { return clock_.now_ms() - heard_ms_; }

 private:
  const Clock& clock_;
  int64_t lost_after_ms_;
  int64_t ping_every_ms_;
  int64_t heard_ms_;
  bool pinged_ = false;
  int64_t pinged_ms_ = 0;
};

}  // namespace zbuild::client
