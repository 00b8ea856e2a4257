#include <catch2/catch.hpp>

#include "common/paths.h"

using zbuild::normalize_relative;
using zbuild::relative_to_root;

TEST_CASE("relative paths are normalised") {
  REQUIRE(normalize_relative("a/./b/../c", "t").value() == "a/c");
  REQUIRE(normalize_relative("a//b/", "t").value() == "a/b");
  REQUIRE(normalize_relative(".", "t").value() == ".");
}

TEST_CASE("escaping paths are refused with the place named") {
  auto r = normalize_relative("../etc/passwd", "task x: input");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().message.find("task x: input") != std::string::npos);
  REQUIRE_FALSE(normalize_relative("a/../../b", "t").ok());
  REQUIRE_FALSE(normalize_relative("/etc/passwd", "t").ok());
}

TEST_CASE("absolute paths under the root become relative") {
  REQUIRE(relative_to_root("/p/root", ".", "/p/root/src/a.cc", "t").value() == "src/a.cc");
  REQUIRE(relative_to_root("/p/root", "sub", "../x.h", "t").value() == "x.h");
  REQUIRE_FALSE(relative_to_root("/p/root", ".", "/p/rootx/a", "t").ok());
  REQUIRE_FALSE(relative_to_root("/p/root", ".", "/etc/passwd", "t").ok());
}
