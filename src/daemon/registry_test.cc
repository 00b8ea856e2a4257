// Registry unit tests: registration, reconnects and liveness against a FakeClock.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "common/clock.h"
#include "daemon/registry.h"

using zbuild::FakeClock;
using zbuild::daemon::Registry;

TEST_CASE("registry: hello registers a worker with no credit") {
  FakeClock clock(5000);
  Registry reg(clock, 1000);
  auto orphans = reg.hello("r1", "w-one", "host1", "linux-x86_64", 8);
  REQUIRE(orphans.empty());
  auto* w = reg.find("r1");
  REQUIRE(w);
  REQUIRE(w->id == "w-one");
  REQUIRE(w->host == "host1");
  REQUIRE(w->platform == "linux-x86_64");
  REQUIRE(w->slots == 8);
  REQUIRE(w->credit == 0);
  REQUIRE(w->last_seen_ms == 5000);
  REQUIRE(w->joined_ms == 5000);
  REQUIRE(reg.find("nope") == nullptr);
  REQUIRE(reg.workers().size() == 1u);
}

TEST_CASE("registry: re-registration of the same worker id returns its orphaned tasks") {
  FakeClock clock;
  Registry reg(clock, 1000);
  REQUIRE(reg.hello("r1", "w-one", "h", "p", 4).empty());
  REQUIRE(reg.hello("r2", "w-two", "h", "p", 4).empty());
  reg.find("r1")->running = {11, 12};
  reg.find("r1")->credit = 2;
  reg.find("r2")->running = {21};

  SECTION("from a new route") {
    auto orphans = reg.hello("r1-new", "w-one", "h", "p", 6);
    REQUIRE(orphans == std::set<uint64_t>{11, 12});
    REQUIRE(reg.find("r1") == nullptr);
    auto* w = reg.find("r1-new");
    REQUIRE(w);
    REQUIRE(w->running.empty());
    REQUIRE(w->credit == 0);
    REQUIRE(w->slots == 6);
  }
  SECTION("from the same route") {
    auto orphans = reg.hello("r1", "w-one", "h", "p", 4);
    REQUIRE(orphans == std::set<uint64_t>{11, 12});
    REQUIRE(reg.find("r1")->running.empty());
  }
  SECTION("a route reused by a different worker id also orphans the old tasks") {
    auto orphans = reg.hello("r1", "w-three", "h", "p", 4);
    REQUIRE(orphans == std::set<uint64_t>{11, 12});
    REQUIRE(reg.find("r1")->id == "w-three");
  }
  // The other worker is untouched.
  REQUIRE(reg.workers().size() == 2u);
  REQUIRE(reg.find("r2")->running == std::set<uint64_t>{21});
}

TEST_CASE("registry: expire removes workers silent longer than the liveness window") {
  FakeClock clock(0);
  Registry reg(clock, 1000);
  (void)reg.hello("r1", "w-one", "h", "p", 1);
  (void)reg.hello("r2", "w-two", "h", "p", 1);
  reg.find("r1")->running = {7};
  clock.advance(600);
  reg.find("r2")->last_seen_ms = clock.now_ms();   // a message from r2, as the daemon records it
  clock.advance(400);     // r1 silent exactly 1000 ms: still alive
  REQUIRE(reg.expire(clock.now_ms()).empty());
  clock.advance(1);       // r1 silent 1001 ms, r2 401 ms
  auto gone = reg.expire(clock.now_ms());
  REQUIRE(gone.size() == 1u);
  REQUIRE(gone[0].id == "w-one");
  REQUIRE(gone[0].route == "r1");
  REQUIRE(gone[0].running == std::set<uint64_t>{7});
  REQUIRE(reg.find("r1") == nullptr);
  REQUIRE(reg.find("r2") != nullptr);
  clock.advance(600);     // r2 silent 1001 ms
  gone = reg.expire(clock.now_ms());
  REQUIRE(gone.size() == 1u);
  REQUIRE(gone[0].id == "w-two");
  REQUIRE(reg.workers().empty());
  REQUIRE(reg.expire(clock.now_ms()).empty());
}

TEST_CASE("registry: a long pass of the daemon's loop expires no worker whose message waits unread") {
  FakeClock clock(0);
  Registry reg(clock, 1000);
  (void)reg.hello("r1", "w-one", "h", "p", 1);
  (void)reg.hello("r2", "w-two", "h", "p", 1);
  clock.advance(900);
  reg.find("r2")->last_seen_ms = clock.now_ms();   // r2's last message read at 900
  int64_t read_to = clock.now_ms();                 // the socket found empty at 900
  clock.advance(5000);                              // then a pass of 5 s: r1's and r2's heartbeats queue
  // Measured against now both would be gone; against the last moment all was read, only r1,
  // silent for more than the window before it (0 -> 900 is not; so neither yet).
  REQUIRE(reg.expire(read_to).empty());
  clock.advance(200);
  auto gone = reg.expire(read_to + 101);            // read up to 1001: r1 silent 1001 ms
  REQUIRE(gone.size() == 1u);
  REQUIRE(gone[0].id == "w-one");
  REQUIRE(reg.find("r2") != nullptr);
  // A worker that joined after the last complete read is never expired by it.
  (void)reg.hello("r3", "w-three", "h", "p", 1);
  REQUIRE(reg.expire(read_to).empty());
  // Read up to now: as before the mark.
  REQUIRE(reg.expire(clock.now_ms()).size() == 1u);   // r2: 900 -> 6100
}

TEST_CASE("registry: remove and total credit") {
  FakeClock clock;
  Registry reg(clock, 1000);
  (void)reg.hello("r1", "w-one", "h", "p", 4);
  (void)reg.hello("r2", "w-two", "h", "p", 4);
  REQUIRE(reg.total_credit() == 0);
  reg.find("r1")->credit = 3;
  reg.find("r2")->credit = 2;
  REQUIRE(reg.total_credit() == 5);
  auto w = reg.remove("r1");
  REQUIRE(w);
  REQUIRE(w->id == "w-one");
  REQUIRE(w->credit == 3);
  REQUIRE_FALSE(reg.remove("r1"));
  REQUIRE(reg.total_credit() == 2);
}

TEST_CASE("registry: short tasks let a worker queue its whole prefetch; long ones take it back one result at a time") {
  using zbuild::daemon::short_task_credit;
  zbuild::daemon::WorkerRec w;
  w.prefetch = 8;
  // Short results: the first one adds the rest of the prefetch (7 beyond the worker's own one), once.
  REQUIRE(short_task_credit(w, 2) == 7);
  REQUIRE(short_task_credit(w, 3) == 0);
  REQUIRE(w.short_extra == 7);
  // The mean rises past 25 ms: each returning result keeps its credit back until none is extra.
  int given = 0;
  for (int k = 0; k < 40; ++k) given += short_task_credit(w, 5000);
  REQUIRE(given == -7);
  REQUIRE(w.short_extra == 0);
  REQUIRE(short_task_credit(w, 5000) == 0);
  // A worker that takes no more than one task ahead never gets any, whatever its tasks take.
  zbuild::daemon::WorkerRec one;
  one.prefetch = 1;
  REQUIRE(short_task_credit(one, 0) == 0);
  zbuild::daemon::WorkerRec none;
  REQUIRE(short_task_credit(none, 0) == 0);
  // A hostile run time is only a number: it cannot overflow the mean.
  zbuild::daemon::WorkerRec h;
  h.prefetch = 8;
  REQUIRE(short_task_credit(h, INT64_MAX) == 0);
  REQUIRE(short_task_credit(h, INT64_MIN) == 0);
  REQUIRE(h.run_ms_mean >= 0);
}
