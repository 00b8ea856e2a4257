#include "common/owner.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/fs.h"

using zbuild::GroupFacts;
using zbuild::is_private_group;

TEST_CASE("a user private group: the user's primary group, named as the user, no one else in it") {
  GroupFacts f;
  f.user = "alice";
  f.user_gid = 1000;
  f.group = "alice";
  f.gid = 1000;
  CHECK(is_private_group(f));
  f.members = {"alice"};
  CHECK(is_private_group(f));   // listing the user herself changes nothing
  f.members = {"alice", "bob"};
  CHECK_FALSE(is_private_group(f));   // bob may write what the group may
  f.members.clear();
  f.another_users_primary = true;
  CHECK_FALSE(is_private_group(f));   // bob's primary group: his files' group, and he is in it
  f.another_users_primary = false;
  f.group = "users";
  CHECK_FALSE(is_private_group(f));   // not named as the user: a shared group by convention
  f.group = "alice";
  f.gid = 1001;
  CHECK_FALSE(is_private_group(f));   // not her primary group
  f.user.clear();
  f.group.clear();
  f.gid = f.user_gid;
  CHECK_FALSE(is_private_group(f));   // nothing known: no
}

TEST_CASE("others_may_write counts a group's write bit unless the group is the user's private group") {
  struct stat st {};
  st.st_gid = ::getegid();
  st.st_mode = S_IFDIR | 0755;
  CHECK_FALSE(zbuild::others_may_write(st));
  st.st_mode = S_IFDIR | 0757;
  CHECK(zbuild::others_may_write(st));
  st.st_mode = S_IFDIR | 0775;
  CHECK(zbuild::others_may_write(st) == !zbuild::private_group(st.st_gid));
  if (::geteuid() == 0) {
    // Debian's root: group root holds no one else, and no other account has it as primary.
    CHECK(zbuild::private_group(0));
    st.st_gid = 65534;   // nogroup: not root's
    CHECK(zbuild::others_may_write(st));
  }
}

TEST_CASE("private_dir takes a cache folder its user's private group may write (umask 002)") {
  char tmpl[] = "/tmp/zbuild-upg-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string base = tmpl;
  REQUIRE(::mkdir((base + "/home").c_str(), 0775) == 0);
  REQUIRE(::chmod((base + "/home").c_str(), 0775) == 0);
  REQUIRE(::mkdir((base + "/home/cache").c_str(), 0775) == 0);
  REQUIRE(::chmod((base + "/home/cache").c_str(), 0775) == 0);
  struct stat st {};
  REQUIRE(::stat((base + "/home").c_str(), &st) == 0);
  CHECK(zbuild::private_dir(base + "/home/cache") == zbuild::private_group(st.st_gid));
  if (::geteuid() == 0) {
    CHECK(zbuild::private_dir(base + "/home/cache"));
    // The same folders with a group someone else may be in: refused, the parent and the folder.
    REQUIRE(::mkdir((base + "/shared").c_str(), 0775) == 0);
    REQUIRE(::chmod((base + "/shared").c_str(), 0775) == 0);
    REQUIRE(::chown((base + "/shared").c_str(), 0, 65534) == 0);
    CHECK_FALSE(zbuild::private_dir(base + "/shared/cache"));
    REQUIRE(::mkdir((base + "/mine").c_str(), 0755) == 0);
    REQUIRE(::mkdir((base + "/mine/cache").c_str(), 0775) == 0);
    REQUIRE(::chmod((base + "/mine/cache").c_str(), 0775) == 0);
    REQUIRE(::chown((base + "/mine/cache").c_str(), 0, 65534) == 0);
    CHECK_FALSE(zbuild::private_dir(base + "/mine/cache"));
  }
  std::filesystem::remove_all(base);
}
