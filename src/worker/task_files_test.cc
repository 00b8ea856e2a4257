// A slot's per-task file work: inputs copied in with exact modes, folders made once, and the
// folder emptied afterwards whatever the task left in it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/temp_dir.h"
#include "worker/task_files.h"

using namespace zbuild;
using namespace zbuild::worker;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("task files: an input is a new copy with its mode, whatever the umask or what was there") {
  TempDir t("task-files");
  std::ofstream(t.path / "blob") << "int x;\n";
  fs::create_directories(t.path / "task");
  mode_t old = ::umask(077);
  REQUIRE(copy_input((t.path / "blob").string(), (t.path / "task/a.h").string(), false).ok());
  REQUIRE(copy_input((t.path / "blob").string(), (t.path / "task/tool").string(), true).ok());
  ::umask(old);
  CHECK(slurp(t.path / "task/a.h") == "int x;\n");
  CHECK(mode_of(t.path / "task/a.h") == 0644);
  CHECK(mode_of(t.path / "task/tool") == 0755);
  // A copy, not a link: writing the placed file leaves the blob as it was.
  std::ofstream(t.path / "task/a.h") << "changed";
  CHECK(slurp(t.path / "blob") == "int x;\n");
  // A file already there is replaced; a link there is replaced, not followed.
  std::ofstream(t.path / "outside") << "keep";
  fs::create_symlink(t.path / "outside", t.path / "task/b.h");
  REQUIRE(copy_input((t.path / "blob").string(), (t.path / "task/a.h").string(), false).ok());
  REQUIRE(copy_input((t.path / "blob").string(), (t.path / "task/b.h").string(), false).ok());
  CHECK(slurp(t.path / "task/a.h") == "int x;\n");
  CHECK_FALSE(fs::is_symlink(t.path / "task/b.h"));
  CHECK(slurp(t.path / "outside") == "keep");
  // A missing blob or folder is an error that names the path.
  auto missing = copy_input((t.path / "no-such-blob").string(), (t.path / "task/c.h").string(), false);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("no-such-blob") != std::string::npos);
  CHECK_FALSE(copy_input((t.path / "blob").string(), (t.path / "task/no/dir.h").string(), false).ok());
}

TEST_CASE("task files: the folders on the way to an input are made once") {
  TempDir t("task-files");
  std::set<std::string> made;
  REQUIRE(make_folders_to(t.path.string(), "top.h", made).ok());
  CHECK(made.empty());
  REQUIRE(make_folders_to(t.path.string(), "src/dsp/dsp.h", made).ok());
  CHECK(made == std::set<std::string>{"src", "src/dsp"});
  CHECK(fs::is_directory(t.path / "src/dsp"));
  REQUIRE(make_folders_to(t.path.string(), "src/enc/enc.h", made).ok());
  CHECK(made.count("src/enc"));
  CHECK(mode_of(t.path / "src/enc") == (0755 & ~[] { mode_t m = ::umask(0); ::umask(m); return m; }()));
  // A file where a folder must go is an error, not followed or replaced.
  std::ofstream(t.path / "file") << "x";
  std::set<std::string> fresh;
  auto st = make_folders_to(t.path.string(), "file/x.h", fresh);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("file") != std::string::npos);
}

TEST_CASE("task files: a folder is emptied of everything but the folder kept, links not followed") {
  TempDir t("task-files");
  fs::path d = t.path / "task";
  fs::create_directories(d / "keep/inner");
  fs::create_directories(d / "a/b/c");
  std::ofstream(d / "a/b/c/f") << "x";
  std::ofstream(d / "top") << "x";
  std::ofstream(d / "keep/inner/stays") << "x";
  std::ofstream(t.path / "outside") << "x";
  fs::create_directories(t.path / "outside-dir");
  std::ofstream(t.path / "outside-dir/f") << "x";
  fs::create_symlink(t.path / "outside", d / "link");
  fs::create_symlink(t.path / "outside-dir", d / "dirlink");
  // A folder the task took every permission from, and one it made read-only.
  fs::create_directories(d / "locked/deep");
  std::ofstream(d / "locked/deep/f") << "x";
  REQUIRE(::chmod((d / "locked/deep").c_str(), 0500) == 0);
  REQUIRE(::chmod((d / "locked").c_str(), 0) == 0);
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK(remove_entries_at(fd, "keep"));
  std::set<std::string> left;
  for (auto& e : fs::directory_iterator(d)) left.insert(e.path().filename().string());
  CHECK(left == std::set<std::string>{"keep"});
  CHECK(fs::exists(d / "keep/inner/stays"));
  CHECK(fs::exists(t.path / "outside"));
  CHECK(fs::exists(t.path / "outside-dir/f"));
  // A file named as the kept folder is not kept.
  std::ofstream(d / "keep2") << "x";
  fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK(remove_entries_at(fd, "keep2"));
  CHECK_FALSE(fs::exists(d / "keep2"));
}

TEST_CASE("task files: a tree deeper than the limit is refused, not walked") {
  TempDir t("task-files");
  fs::path d = t.path / "task";
  fs::path p = d;
  for (int i = 0; i < 300; ++i) p /= "d";
  fs::create_directories(p);
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK_FALSE(remove_entries_at(fd, nullptr));
}
