#include <catch2/catch.hpp>

#include "daemon/blob_pull.h"

using zbuild::Digest;
using zbuild::digest_bytes;
using zbuild::daemon::BlobPull;

TEST_CASE("a blob a client offers is asked of it once and its waiters are answered when it arrives") {
  BlobPull p;
  Digest cc1 = digest_bytes("cc1plus"), other = digest_bytes("other");
  p.offer(7, "client-a", 41, {cc1});
  std::optional<BlobPull::Provider> ask;
  REQUIRE_FALSE(p.hold(other, {"w1", 0, 0}, &ask));   // nobody offers it: answered missing at once
  REQUIRE_FALSE(ask);
  REQUIRE(p.hold(cc1, {"w1", 0, 0}, &ask));
  REQUIRE(ask);
  CHECK(ask->route == "client-a");
  CHECK(ask->rid == 41);
  std::optional<BlobPull::Provider> again;
  REQUIRE(p.hold(cc1, {"w2", 524288, 0}, &again));
  CHECK_FALSE(again);   // already asked
  CHECK(p.offered_by(cc1, "client-a"));
  CHECK_FALSE(p.offered_by(cc1, "client-b"));   // another client's `missing` is not heard
  auto ws = p.release(cc1);
  REQUIRE(ws.size() == 2);
  CHECK(ws[1].route == "w2");
  CHECK(ws[1].offset == 524288);
  CHECK(p.release(cc1).empty());
}

TEST_CASE("when a build ends its offers go and the waiters nobody else can serve are returned") {
  BlobPull p;
  Digest a = digest_bytes("a"), b = digest_bytes("b");
  p.offer(1, "c1", 1, {a, b});
  p.offer(2, "c2", 5, {b});
  std::optional<BlobPull::Provider> ask;
  REQUIRE(p.hold(a, {"w", 0, 0}, &ask));
  REQUIRE(p.hold(b, {"w", 0, 0}, &ask));
  CHECK(ask->route == "c2");   // the newest build's client
  auto ended = p.build_ended(1);
  REQUIRE(ended.size() == 1);   // b is still offered by build 2
  CHECK(ended[0].first == a);
  CHECK(p.offered() == 1);
  CHECK(p.held() == 1);
  ended = p.build_ended(2);
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].first == b);
  CHECK(p.offered() == 0);
}
