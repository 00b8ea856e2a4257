// SilenceWatch against a FakeClock: when zbuild submit pings a silent daemon and when it gives
// the daemon up. Nothing sleeps.
#include <catch2/catch.hpp>

#include "client/silence.h"

using zbuild::FakeClock;
using zbuild::client::SilenceWatch;
using Action = SilenceWatch::Action;

TEST_CASE("silence: a ping at once, then one every interval, lost after the limit") {
  FakeClock clock(1000);
  SilenceWatch w(clock, 6000, 2000);
  CHECK(w.silent() == Action::ping);   // the first silence asks at once
  clock.advance(500);
  CHECK(w.silent() == Action::wait);
  clock.advance(1500);                 // 2000 ms since the ping: not more than the interval
  CHECK(w.silent() == Action::wait);
  clock.advance(1);
  CHECK(w.silent() == Action::ping);
  clock.advance(3999);                 // silent for exactly 6000 ms: not lost yet
  CHECK(w.silent() == Action::ping);
  CHECK(w.silent_ms() == 6000);
  clock.advance(1);
  CHECK(w.silent() == Action::lost);
}

TEST_CASE("silence: a message starts the limit again") {
  FakeClock clock(0);
  SilenceWatch w(clock, 6000, 2000);
  CHECK(w.silent() == Action::ping);
  clock.advance(1000);
  w.heard();
  CHECK(w.silent_ms() == 0);
  clock.advance(500);
  CHECK(w.silent() == Action::wait);   // 1500 ms since the ping
  clock.advance(5500);                 // silent for 6000 ms since the message
  CHECK(w.silent() == Action::ping);
  clock.advance(1);
  CHECK(w.silent() == Action::lost);
}
