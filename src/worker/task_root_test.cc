// Where task folders go: /dev/shm's memory file system by default, never a folder someone else
// prepared there, the work folder otherwise.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/temp_dir.h"
#include "worker/task_root.h"

using namespace zbuild;
using namespace zbuild::worker;
namespace fs = std::filesystem;

TEST_CASE("task root: a private folder on /dev/shm, emptied when a worker starts again") {
  TempDir t("task-root");
  auto a = choose_task_root("", t.path / "work");
  REQUIRE(a.ok());
  REQUIRE(a.value().on_tmpfs);   // Debian's /dev/shm is a tmpfs
  CHECK(a.value().owned);
  CHECK(a.value().dir.parent_path() == "/dev/shm");
  struct stat st {};
  REQUIRE(::lstat(a.value().dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  std::ofstream(a.value().dir / "left-by-a-killed-worker") << "x";
  // While its worker runs, another worker of the same work folder does not take it.
  auto busy = choose_task_root("", t.path / "work");
  REQUIRE(busy.ok());
  CHECK(busy.value().dir == t.path / "work" / "sandbox");
  CHECK(busy.value().why.find("in use by another worker") != std::string::npos);
  CHECK(fs::exists(a.value().dir / "left-by-a-killed-worker"));
  // Killed (its lock gone with it): the next worker of any work folder removes what it left.
  ::close(a.value().lock_fd);
  auto other = choose_task_root("", t.path / "other-work");
  REQUIRE(other.ok());
  CHECK_FALSE(fs::exists(a.value().dir));
  auto b = choose_task_root("", t.path / "work");
  REQUIRE(b.ok());
  CHECK(b.value().dir == a.value().dir);
  CHECK(fs::is_empty(b.value().dir) == false);   // only its lock file
  CHECK_FALSE(fs::exists(b.value().dir / "left-by-a-killed-worker"));
  // A folder of that name that is not private is not used.
  REQUIRE(::chmod(b.value().dir.c_str(), 0755) == 0);
  auto c = choose_task_root("", t.path / "work");
  REQUIRE(c.ok());
  CHECK(c.value().dir == t.path / "work" / "sandbox");
  CHECK_FALSE(c.value().owned);
  CHECK(c.value().why.find("not this user's private folder") != std::string::npos);
  release_task_root(b.value());
  release_task_root(other.value());
  CHECK_FALSE(fs::exists(b.value().dir));
  CHECK_FALSE(fs::exists(other.value().dir));
}

TEST_CASE("task root: a folder a starting worker has made but not yet locked is not swept") {
  TempDir t("task-root-race");
  // What another worker's folder looks like between its mkdir and its lock: no lock file yet.
  auto a = choose_task_root("", t.path / "starting");
  REQUIRE(a.ok());
  REQUIRE(a.value().owned);
  ::close(a.value().lock_fd);
  REQUIRE(fs::remove(a.value().dir / ".zbuild-worker.lock"));
  std::ofstream(a.value().dir / "its-slot") << "x";
  auto other = choose_task_root("", t.path / "other");
  REQUIRE(other.ok());
  CHECK(fs::exists(a.value().dir / "its-slot"));
  release_task_root(other.value());
  fs::remove_all(a.value().dir);
}

TEST_CASE("task root: the work folder when asked, or when the memory file system lacks room; --task-dir as given") {
  TempDir t("task-root");
  auto d = choose_task_root("disk", t.path / "work");
  REQUIRE(d.ok());
  CHECK(d.value().dir == t.path / "work" / "sandbox");
  CHECK(fs::is_directory(d.value().dir));
  auto full = choose_task_root("", t.path / "work", "/dev/shm", ~0ull);
  REQUIRE(full.ok());
  CHECK(full.value().dir == t.path / "work" / "sandbox");
  CHECK(full.value().why.find("/dev/shm is not a memory file system with") == 0);
  fs::create_directories(t.path / "mine");
  std::ofstream(t.path / "mine" / "old") << "x";
  auto m = choose_task_root((t.path / "mine").string(), t.path / "work");
  REQUIRE(m.ok());
  CHECK(m.value().dir == t.path / "mine");
  CHECK(fs::is_empty(t.path / "mine"));
  CHECK_FALSE(m.value().owned);
}

TEST_CASE("work folder: the default one is private and locked, and a killed worker's is removed by the next") {
  TempDir t("work-folder");
  auto a = claim_work_folder(t.path, 101);
  REQUIRE(a.ok());
  fs::path da = t.path / "zbuild-worker-101";
  CHECK(a.value().dir == da);
  struct stat st {};
  REQUIRE(::lstat(da.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  std::ofstream(da / "blob") << "x";
  // While it runs, another worker leaves it alone; the same name is refused.
  auto b = claim_work_folder(t.path, 102);
  REQUIRE(b.ok());
  CHECK(fs::exists(da / "blob"));
  auto again = claim_work_folder(t.path, 101);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().message.find("in use by another worker") != std::string::npos);
  // Killed (its lock gone with it): the next worker to start removes what it left.
  ::close(a.value().lock_fd);
  auto c = claim_work_folder(t.path, 103);
  REQUIRE(c.ok());
  CHECK_FALSE(fs::exists(da));
  CHECK(fs::exists(t.path / "zbuild-worker-102"));
  // A folder of this pid's name without a lock file (an older worker's, a pid reused) is replaced.
  fs::path old = t.path / "zbuild-worker-104";
  fs::create_directories(old / "blobs");
  std::ofstream(old / "blobs" / "stale") << "x";
  REQUIRE(::chmod(old.c_str(), 0755) == 0);
  auto d = claim_work_folder(t.path, 104);
  REQUIRE(d.ok());
  CHECK_FALSE(fs::exists(old / "blobs" / "stale"));
  REQUIRE(::lstat(old.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  // A folder of another name, or another worker's without its lock file, is not touched.
  fs::create_directories(t.path / "zbuild-worker-105");
  fs::create_directories(t.path / "unrelated");
  auto e = claim_work_folder(t.path, 106);
  REQUIRE(e.ok());
  CHECK(fs::exists(t.path / "zbuild-worker-105"));
  CHECK(fs::exists(t.path / "unrelated"));
  for (auto* w : {&b.value(), &c.value(), &d.value(), &e.value()}) ::close(w->lock_fd);
}
