// The executor without a sandbox process (--sandbox none): a slot's tasks run one after another
// in the slot's own folder, emptied after each, whatever the task did to it.
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <linux/magic.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "worker/executor.h"
#include "worker/host_check.h"

using namespace zbuild;
using namespace zbuild::worker;
namespace fs = std::filesystem;

namespace {

// A folder on /dev/shm (a memory file system, where the task root lives by default).
struct ShmDir {
  fs::path path;
  ShmDir() {
    std::string tmpl = "/dev/shm/zbuild-executor-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~ShmDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

bool emptied(const fs::path& d) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
  struct stat top {}, tmp {};
  return names == std::vector<std::string>{".zbuild-tmp"} && fs::is_empty(d / ".zbuild-tmp") &&
         ::lstat(d.c_str(), &top) == 0 && ::lstat((d / ".zbuild-tmp").c_str(), &tmp) == 0 &&
         (top.st_mode & 07777) == 0755 && (tmp.st_mode & 07777) == 0755 &&
         ::llistxattr(d.c_str(), nullptr, 0) == 0 && ::llistxattr((d / ".zbuild-tmp").c_str(), nullptr, 0) == 0;
}

}  // namespace

TEST_CASE("--sandbox none: a slot's folder is emptied after each task; one left empty is not listed again") {
  ShmDir shm;
  struct statfs sf {};
  REQUIRE(::statfs(shm.path.c_str(), &sf) == 0);
  REQUIRE(static_cast<unsigned long>(sf.f_type) == TMPFS_MAGIC);
  TempDir cache_dir("exec-cache");
  BlobCache cache(cache_dir.path);
  REQUIRE(cache.init().ok());
  HostFileChecker hosts(std::vector<std::string>{});
  SandboxPolicy p;
  p.allowed.push_back("sh");
  Executor ex(shm.path, cache, hosts, p);
  HostSide host;
  host.checked = true;
  const fs::path folder = shm.path / ".task-0";
  auto run = [&](const std::string& script) {
    ActionSpec a;
    a.argv = {"sh", "-c", script};
    auto r = ex.run(a, "t", host, nullptr, 0);
    REQUIRE(r.infra_error.empty());
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(r.sandbox == folder);
    ex.cleanup(r);
    CHECK(emptied(folder));
    return r;
  };

  run("touch made");
  uint64_t n = ex.listings();
  CHECK(n == 1);
  // A task that leaves nothing: the folder is seen to be as it was emptied, not listed.
  run("true");
  run("touch gone && rm gone");
  CHECK(ex.listings() == n);

  // Whatever a task leaves, in any way, is found and removed.
  const std::vector<std::string> leavers = {
      "touch .zbuild-tmp/t",
      "mkdir -p d/e && touch d/e/f",
      "ln -s /etc link",
      // the only entry, swapped for another folder of the same name: a new inode
      "mv .zbuild-tmp x && mkdir .zbuild-tmp && rmdir x",
      "mv .zbuild-tmp x && mkdir .zbuild-tmp && touch x/f",
      // one entry made and another removed: .zbuild-tmp made again, with something in it
      "rmdir .zbuild-tmp && mkdir .zbuild-tmp && touch .zbuild-tmp/a",
      "chmod 700 . && chmod 777 .zbuild-tmp",
      "python3 -c \"import os; os.setxattr('.zbuild-tmp', 'user.zb', b'left'); os.setxattr('.', 'user.zb', b'x')\"",
  };
  for (auto& s : leavers) {
    INFO(s);
    run(s);
  }
  CHECK(ex.listings() > n);
  // And once emptied again, a task that leaves nothing costs no listing.
  n = ex.listings();
  run("true");
  CHECK(ex.listings() == n);
}
