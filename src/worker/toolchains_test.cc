// A shipped toolchain's private root: built from the blob cache at the tree's paths, host files
// placed through the tree's links inside the root, never out of it.
#include <catch2/catch.hpp>
#include <filesystem>

#include "common/temp_dir.h"
#include "common/toolchain_tree.h"
#include "worker/blob_cache.h"
#include "worker/host_check.h"
#include "worker/toolchains.h"

using namespace zbuild;
using namespace zbuild::worker;
namespace fs = std::filesystem;

namespace {

Digest put(BlobCache& cache, const std::string& data) {
  Digest d = digest_bytes(data);
  auto r = cache.add_chunk(d, 0, data);
  REQUIRE(r.ok());
  REQUIRE(r.value());
  return d;
}

}  // namespace

TEST_CASE("a shipped toolchain's root holds the tree and the headers, through its links") {
  TempDir tmp("toolchains");
  BlobCache cache(tmp.path / "blobs");
  REQUIRE(cache.init().ok());
  HostFileChecker hosts;
  Toolchains tcs(tmp.path / "toolchains", cache, hosts);

  Digest gcc = put(cache, "the compiler");
  Digest zlib = put(cache, "zlib");
  toolchain::Tree t;
  t.entries = {{'l', "/lib", {}, "usr/lib"},
               {'d', "/usr", {}, {}},
               {'d', "/usr/bin", {}, {}},
               {'x', "/usr/bin/gcc-12", gcc, {}},
               {'l', "/usr/bin/gcc", {}, "gcc-12"},
               {'d', "/usr/lib", {}, {}},
               {'l', "/usr/lib/evil", {}, "/etc"},
               {'l', "/usr/lib/up", {}, "../../../.."}};
  // Sorted, as a tree is.
  std::sort(t.entries.begin(), t.entries.end(), [](auto& a, auto& b) { return a.path < b.path; });
  Digest td = put(cache, t.encode());

  auto root = tcs.root_for(td, {HostFileSpec{"/lib/x86_64-linux-gnu/libz.so.1", zlib}});
  REQUIRE(root.ok());
  CHECK(fs::is_symlink(root.value() / "lib"));
  CHECK(fs::is_regular_file(root.value() / "usr/bin/gcc-12"));
  CHECK((fs::status(root.value() / "usr/bin/gcc-12").permissions() & fs::perms::owner_exec) != fs::perms::none);
  CHECK(fs::is_symlink(root.value() / "usr/bin/gcc"));
  // Placed where the sandbox finds it: /lib is the tree's link to usr/lib.
  CHECK(fs::is_regular_file(root.value() / "usr/lib/x86_64-linux-gnu/libz.so.1"));

  // A header through a link that leads out of the toolchain folders is refused, and nothing is
  // written outside the root.
  CHECK_FALSE(tcs.root_for(td, {HostFileSpec{"/usr/lib/evil/passwd", zlib}}).ok());
  CHECK_FALSE(tcs.root_for(td, {HostFileSpec{"/usr/lib/up/passwd", zlib}}).ok());
  CHECK_FALSE(fs::exists(tmp.path / "toolchains" / "passwd"));
  // The same path with other content than a task placed before: refused.
  CHECK_FALSE(tcs.root_for(td, {HostFileSpec{"/lib/x86_64-linux-gnu/libz.so.1", gcc}}).ok());
  CHECK(tcs.root_for(td, {HostFileSpec{"/usr/lib/x86_64-linux-gnu/libz.so.1", zlib}}).ok());
}
