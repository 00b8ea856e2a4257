#include <catch2/catch.hpp>

#include "common/digest.h"

using zbuild::Digest;

TEST_CASE("digest text form round-trips") {
  Digest d = zbuild::digest_bytes("hello");
  REQUIRE(d.size == 5);
  auto s = d.str();
  REQUIRE(s.size() == 34);
  auto back = Digest::parse(s);
  REQUIRE(back.ok());
  REQUIRE(back.value() == d);
  REQUIRE_FALSE(Digest::parse("xyz").ok());
  REQUIRE_FALSE(Digest::parse(std::string(32, 'g') + "-1").ok());
}

TEST_CASE("digest depends on content only") {
  REQUIRE(zbuild::digest_bytes("a") != zbuild::digest_bytes("b"));
  REQUIRE(zbuild::digest_bytes("abc") == zbuild::digest_bytes("abc"));
  zbuild::Hasher h;
  h.update("ab");
  h.update("c");
  auto inc = h.finish();
  REQUIRE(inc.hi == zbuild::digest_bytes("abc").hi);
  REQUIRE(inc.lo == zbuild::digest_bytes("abc").lo);
}

TEST_CASE("hasher fields are length-prefixed") {
  zbuild::Hasher a, b;
  a.field("ab");
  a.field("c");
  b.field("a");
  b.field("bc");
  REQUIRE(a.finish() != b.finish());
}
