// Who besides this user may write a file or folder: anyone (mode o+w), or its group — unless the
// group is this user's private group. Under the user-private-group convention (Debian's adduser,
// pam_umask's "usergroups", the default on Ubuntu) a user's umask is 002, so what the user makes
// is group-writable, but the group has no one else in it. The per-user caches, the daemon's
// store folder and a workspace's daemon file are trusted only when no one else may write them
// (docs/security.md); a private group's write bit does not change that.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace zbuild {

// What decides whether a group is a user's private group, as read from the user database.
struct GroupFacts {
  std::string user;                  // this user's name
  gid_t user_gid = 0;                // this user's primary group
  std::string group;                 // the group's name
  gid_t gid = 0;
  std::vector<std::string> members;  // the group's listed members
  bool another_users_primary = false;   // some other user in /etc/passwd has it as primary group
};

// The convention's test: the user's primary group, named as the user, with no other member
// listed, and no other user's primary group.
bool is_private_group(const GroupFacts& f);

// is_private_group for this user (the effective uid) and `gid`, from the user database
// (getpwuid_r, getgrgid_r, /etc/passwd); false when any lookup fails. Remembered per process.
bool private_group(gid_t gid);

// Someone other than the owner may write it: others can, or the group can and it is not the
// user's private group.
bool others_may_write(const struct stat& st);

}  // namespace zbuild
