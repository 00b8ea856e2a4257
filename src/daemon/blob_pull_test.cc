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

TEST_CASE("a hold whose client sends nothing is asked again once, then answered missing") {
  BlobPull p;
  Digest cc1 = digest_bytes("cc1plus"), as = digest_bytes("as");
  p.offer(3, "client-a", 9, {cc1, as});
  std::optional<BlobPull::Provider> ask;
  REQUIRE(p.hold(cc1, {"w1", 0, 0}, &ask, 1000));
  REQUIRE(ask);
  CHECK(p.stalled(60999, 60000).again.empty());   // not yet a minute
  // The client sends chunks (of another blob): it is working through what it was asked.
  p.heard_from("client-a", 50000);
  CHECK(p.stalled(109999, 60000).again.empty());
  auto s = p.stalled(110000, 60000);
  REQUIRE(s.again.size() == 1);
  CHECK(s.again[0].first == cc1);
  CHECK(s.again[0].second.route == "client-a");
  CHECK(s.again[0].second.rid == 9);
  CHECK(s.give_up.empty());
  CHECK(p.stalled(169999, 60000).give_up.empty());   // asked again at 110000: a minute from then
  s = p.stalled(170000, 60000);
  CHECK(s.again.empty());
  REQUIRE(s.give_up.size() == 1);
  CHECK(s.give_up[0] == cc1);
  auto ws = p.release(cc1);   // the daemon answers them `missing`
  REQUIRE(ws.size() == 1);
  CHECK(ws[0].route == "w1");
  CHECK(p.stalled(1000000, 60000).give_up.empty());   // nothing held any more
}

TEST_CASE("a hold counts from its first waiter, and a client that leaves is forgotten") {
  BlobPull p;
  Digest a = digest_bytes("a");
  p.offer(1, "c1", 1, {a});
  p.heard_from("c1", 0);
  std::optional<BlobPull::Provider> ask;
  REQUIRE(p.hold(a, {"w", 0, 0}, &ask, 100000));   // long after the client last sent anything
  CHECK(p.stalled(159999, 60000).again.empty());
  CHECK(p.stalled(160000, 60000).again.size() == 1);
  auto ended = p.build_ended(1);   // its waiters are answered by the daemon
  REQUIRE(ended.size() == 1);
  CHECK(p.held() == 0);
  CHECK(p.stalled(1000000, 60000).again.empty());
}
