// The outbox's policy alone: when a slot's messages wait and when they go, in order.
#include <catch2/catch.hpp>

#include "worker/outbox.h"

using zbuild::worker::Outbox;

namespace {
std::vector<std::string> task(const std::string& name) { return {name + ".blob", name + ".result"}; }
}  // namespace

TEST_CASE("outbox: nothing waits when the worker has no other queued work") {
  Outbox box;
  REQUIRE(box.add(task("a"), 0, 100) == std::vector<std::string>{"a.blob", "a.result"});
  REQUIRE(box.add(task("b"), 1, 100) == std::vector<std::string>{"b.blob", "b.result"});   // its slot takes the last one
  REQUIRE(box.empty());
  REQUIRE(box.due_in(100) == -1);
}

TEST_CASE("outbox: held while more is queued, then sent in order with the task that ends the hold") {
  Outbox box;
  REQUIRE(box.add(task("a"), 3, 100).empty());
  REQUIRE(box.add(task("b"), 2, 101).empty());
  REQUIRE(box.due_in(101) == 9);   // 10 ms from the first
  REQUIRE(box.add(task("c"), 1, 102) ==
          std::vector<std::string>{"a.blob", "a.result", "b.blob", "b.result", "c.blob", "c.result"});
  REQUIRE(box.empty());
}

TEST_CASE("outbox: a group ends at its count, its age and its size") {
  SECTION("count") {
    Outbox box(Outbox::Limits{3, 10, 1 << 20});
    REQUIRE(box.add(task("a"), 5, 0).empty());
    REQUIRE(box.add(task("b"), 5, 0).empty());
    REQUIRE(box.add(task("c"), 5, 0).size() == 6);
  }
  SECTION("age") {
    Outbox box(Outbox::Limits{8, 10, 1 << 20});
    REQUIRE(box.add(task("a"), 5, 0).empty());
    REQUIRE(box.due_in(4) == 6);
    REQUIRE(box.due_in(12) == 0);
    REQUIRE(box.add(task("b"), 5, 10).size() == 4);
  }
  SECTION("size") {
    Outbox box(Outbox::Limits{8, 10, 100});
    REQUIRE(box.add({std::string(60, 'x')}, 5, 0).empty());
    REQUIRE(box.add({std::string(60, 'y')}, 5, 0).size() == 2);
  }
}

TEST_CASE("outbox: take hands over everything held, once") {
  Outbox box;
  REQUIRE(box.add(task("a"), 4, 0).empty());
  REQUIRE(box.take() == std::vector<std::string>{"a.blob", "a.result"});
  REQUIRE(box.take().empty());
  REQUIRE(box.due_in(0) == -1);
  // A new group's age starts with its own first task.
  REQUIRE(box.add(task("b"), 4, 50).empty());
  REQUIRE(box.due_in(55) == 5);
}
