// The Clock seam's helpers (Deadline, Backoff) against a FakeClock: time moves only when the
// test moves it, so nothing here sleeps.
#include <catch2/catch.hpp>

#include "common/clock.h"

using namespace zbuild;

TEST_CASE("fake clock: sleeping moves time on at once") {
  FakeClock c(500);
  c.sleep_ms(20);
  c.sleep_ms(0);
  c.sleep_ms(-5);
  CHECK(c.now_ms() == 520);
  CHECK(c.slept_ms() == 20);
  c.advance(80);
  CHECK(c.now_ms() == 600);
  CHECK(c.slept_ms() == 20);
}

TEST_CASE("deadline expires when its time is reached, not before") {
  FakeClock c(1000);
  Deadline d(c, 300);
  CHECK_FALSE(d.expired());
  CHECK(d.remaining_ms() == 300);
  c.advance(299);
  CHECK_FALSE(d.expired());
  CHECK(d.remaining_ms() == 1);
  c.advance(1);
  CHECK(d.expired());
  CHECK(d.remaining_ms() == 0);
  c.advance(50);
  CHECK(d.remaining_ms() == 0);   // never negative
}

TEST_CASE("deadline of zero is already expired") {
  FakeClock c;
  CHECK(Deadline(c, 0).expired());
}

TEST_CASE("back-off doubles up to its cap and starts again after a success") {
  Backoff b(100, 2000);
  CHECK(b.next_ms() == 100);
  CHECK(b.next_ms() == 200);
  CHECK(b.next_ms() == 400);
  CHECK(b.next_ms() == 800);
  CHECK(b.next_ms() == 1600);
  CHECK(b.next_ms() == 2000);
  CHECK(b.next_ms() == 2000);
  b.reset();
  CHECK(b.next_ms() == 100);
  CHECK(b.next_ms() == 200);
}

TEST_CASE("back-off waits on the clock it is given") {
  // The worker's reconnect loop: silence, wait next_ms() on its clock, reconnect.
  FakeClock c(0);
  Backoff b(100, 2000);
  for (int i = 0; i < 6; ++i) c.sleep_ms(b.next_ms());
  CHECK(c.now_ms() == 100 + 200 + 400 + 800 + 1600 + 2000);
}
