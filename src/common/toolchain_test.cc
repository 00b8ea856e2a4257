#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>

#include "common/subprocess.h"
#include "common/toolchain_probe.h"
#include "common/toolchain_tree.h"

using zbuild::Digest;
using zbuild::digest_bytes;
using zbuild::toolchain::Entry;
using zbuild::toolchain::Tree;

namespace {
std::string tree_text(const std::string& body) { return "zbuild-toolchain 1\n" + body; }
const std::string kD = digest_bytes("x").str();
}  // namespace

TEST_CASE("a toolchain tree round-trips through its encoding") {
  Tree t;
  t.entries = {Entry{'l', "/lib", {}, "usr/lib"}, Entry{'d', "/usr", {}, {}},
               Entry{'x', "/usr/bin/gcc-12", digest_bytes("gcc"), {}}, Entry{'f', "/usr/lib/x.o", digest_bytes("o"), {}}};
  auto back = Tree::decode(t.encode());
  REQUIRE(back.ok());
  REQUIRE(back.value().entries == t.entries);
  REQUIRE(back.value().digest() == t.digest());
}

TEST_CASE("a hostile toolchain tree is refused, naming the line") {
  auto refused = [](const std::string& body) {
    auto r = Tree::decode(tree_text(body));
    return r.ok() ? std::string() : r.error().message;
  };
  REQUIRE(refused("d\t/usr\n").empty());
  REQUIRE_FALSE(Tree::decode("zbuild-toolchain 2\n").ok());
  REQUIRE(refused("d\t/usr/../etc\n").find("line 2") != std::string::npos);   // not normalised
  REQUIRE_FALSE(refused("d\tusr\n").empty());                                   // relative
  REQUIRE_FALSE(refused("f\t/etc/passwd\t" + kD + "\n").empty());             // outside the toolchain folders
  REQUIRE_FALSE(refused("f\t/home/u/x\t" + kD + "\n").empty());
  REQUIRE_FALSE(refused("d\t/proc\n").empty());
  REQUIRE(refused("l\t/etc/alternatives/cc\t/usr/bin/gcc\n").empty());
  REQUIRE_FALSE(refused("d\t/usr/lib\nd\t/usr\n").empty());                    // not sorted
  REQUIRE_FALSE(refused("d\t/usr\nd\t/usr\n").empty());                        // duplicate
  // Nothing below a link of the tree: the worker would write through it.
  REQUIRE_FALSE(refused("l\t/usr/lib\t/etc\nf\t/usr/lib/passwd\t" + kD + "\n").empty());
  REQUIRE_FALSE(refused("l\t/usr/lib\t/etc\nl\t/usr/lib-x\ty\nf\t/usr/lib/passwd\t" + kD + "\n").empty());
  REQUIRE_FALSE(refused("f\t/usr/x\tnot-a-digest\n").empty());
  REQUIRE_FALSE(refused("q\t/usr/x\n").empty());
  REQUIRE_FALSE(refused("d\t/usr").empty());                                    // no final newline
  REQUIRE_FALSE(refused("d\t/usr/a\x01\n").empty());
  REQUIRE(refused("d\t/usr\nd\t/usr/a\nd\t/usr/b\n").empty());
  REQUIRE_FALSE(Tree::decode(tree_text("d\t/usr\nd\t/usr/a\nd\t/usr/b\n"), 2).ok());   // over the entry cap
}

TEST_CASE("the host's g++ toolchain holds its programs, libraries and loader") {
  std::string gxx = zbuild::find_in_path("g++");
  REQUIRE_FALSE(gxx.empty());
  auto t = zbuild::toolchain::discover(gxx);
  REQUIRE(t.ok());
  auto has_file = [&](const std::string& suffix) {
    return std::any_of(t.value().entries.begin(), t.value().entries.end(), [&](const Entry& e) {
      return (e.kind == 'f' || e.kind == 'x') && e.path.size() >= suffix.size() &&
             e.path.compare(e.path.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
  };
  CHECK(has_file("/cc1plus"));
  CHECK(has_file("/collect2"));
  CHECK(has_file("-ld.bfd"));
  CHECK(has_file("-as"));
  CHECK(has_file("/libc.so.6"));
  CHECK(has_file("/ld-linux-x86-64.so.2"));
  CHECK(has_file("/crti.o"));
  CHECK(has_file("/libstdc++.so.6.0.30"));
  CHECK(has_file("/libmpfr.so.6.2.0"));   // a library cc1plus needs
  auto again = Tree::decode(t.value().encode());
  REQUIRE(again.ok());
  // The link the task names is an entry, so the worker's copy resolves as the host does.
  CHECK(std::any_of(t.value().entries.begin(), t.value().entries.end(),
                    [&](const Entry& e) { return e.path == gxx && (e.kind == 'l' || e.kind == 'x'); }));
}
