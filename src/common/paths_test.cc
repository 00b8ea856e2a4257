#include <catch2/catch.hpp>

#include "common/paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/fs.h"

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

TEST_CASE("a path is taken as normal only when lexically_normal would leave it as it is") {
  for (const char* p : {"/", "/a", "/a/b.h", "/usr/include/c++/12/bits/x.h", "/a/..b/.c"}) {
    INFO(p);
    CHECK(zbuild::is_normal_absolute(p));
    CHECK(std::filesystem::path(p).lexically_normal().string() == p);
  }
  for (const char* p : {"", "a/b", "//a", "/a//b", "/a/./b", "/a/../b", "/a/b/", "/a/.", "/a/..", "/."}) {
    INFO(p);
    CHECK_FALSE(zbuild::is_normal_absolute(p));
  }
  CHECK(zbuild::is_under("/r", "/r/a/b"));
  CHECK(zbuild::is_under("/r/", "/r/x/../a"));
  CHECK_FALSE(zbuild::is_under("/r", "/r/../s/a"));
  CHECK_FALSE(zbuild::is_under("/r", "/rs/a"));
  CHECK(zbuild::is_under("/", "/anything"));
}

TEST_CASE("private_dir makes a missing cache folder 0700 and refuses one others can write or a link") {
  char tmpl[] = "/tmp/zbuild-private-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string base = tmpl;
  std::string made = base + "/a/b";
  REQUIRE(zbuild::private_dir(made));
  struct stat st {};
  REQUIRE(::stat((base + "/a").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::stat(made.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::chmod(made.c_str(), 0777) == 0);
  CHECK_FALSE(zbuild::private_dir(made));   // others could write it
  REQUIRE(::chmod(made.c_str(), 0755) == 0);
  CHECK(zbuild::private_dir(made));         // readable by others is fine; writable is not
  REQUIRE(::symlink(made.c_str(), (base + "/link").c_str()) == 0);
  CHECK_FALSE(zbuild::private_dir(base + "/link"));
  CHECK_FALSE(zbuild::private_dir("relative/dir"));
  std::filesystem::remove_all(base);
}

TEST_CASE("private_dir refuses a folder below one another user could change, through links too") {
  char tmpl[] = "/tmp/zbuild-way-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string base = tmpl;   // in /tmp: sticky, so this user's folder in it is safe
  CHECK(zbuild::private_dir(base + "/ok/cache"));
  // A parent others can write (not sticky): they could rename the cache folder and put theirs.
  REQUIRE(::mkdir((base + "/open").c_str(), 0700) == 0);
  REQUIRE(::chmod((base + "/open").c_str(), 0777) == 0);
  CHECK_FALSE(zbuild::private_dir(base + "/open/cache"));
  // Sticky and open, as /tmp: fine.
  REQUIRE(::chmod((base + "/open").c_str(), 01777) == 0);
  CHECK(zbuild::private_dir(base + "/open/cache"));
  // A link on the way into a folder others can write is followed and refused.
  REQUIRE(::mkdir((base + "/wide").c_str(), 0700) == 0);
  REQUIRE(::chmod((base + "/wide").c_str(), 0777) == 0);
  REQUIRE(::symlink((base + "/wide").c_str(), (base + "/via").c_str()) == 0);
  CHECK_FALSE(zbuild::private_dir(base + "/via/cache"));
  REQUIRE(::symlink((base + "/ok").c_str(), (base + "/good").c_str()) == 0);
  CHECK(zbuild::private_dir(base + "/good/cache"));
  // A parent owned by another user (root can make one here) is refused even when not open.
  if (::geteuid() == 0) {
    REQUIRE(::mkdir((base + "/theirs").c_str(), 0755) == 0);
    REQUIRE(::chown((base + "/theirs").c_str(), 4242, 4242) == 0);
    REQUIRE(::mkdir((base + "/theirs/cache").c_str(), 0700) == 0);
    CHECK_FALSE(zbuild::private_dir(base + "/theirs/cache"));
  }
  std::filesystem::remove_all(base);
}
