#include "common/owner.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <mutex>

namespace zbuild {

bool is_private_group(const GroupFacts& f) {
  if (f.user.empty() || f.gid != f.user_gid || f.group != f.user || f.another_users_primary) return false;
  return std::all_of(f.members.begin(), f.members.end(), [&](const std::string& m) { return m == f.user; });
}

namespace {

// The facts for this user and `gid`; false when the user or the group cannot be looked up.
bool read_facts(gid_t gid, GroupFacts* f) {
  const uid_t me = ::geteuid();
  std::vector<char> buf(16384);
  passwd pw {};
  passwd* pwp = nullptr;
  if (::getpwuid_r(me, &pw, buf.data(), buf.size(), &pwp) != 0 || !pwp) return false;
  f->user = pw.pw_name;
  f->user_gid = pw.pw_gid;
  std::vector<char> gbuf(65536);
  group gr {};
  group* grp = nullptr;
  if (::getgrgid_r(gid, &gr, gbuf.data(), gbuf.size(), &grp) != 0 || !grp) return false;
  f->group = gr.gr_name;
  f->gid = gr.gr_gid;
  for (char** m = gr.gr_mem; m && *m; ++m) f->members.emplace_back(*m);
  // Local accounts only: enumerating a network directory is slow or refused.
  FILE* in = std::fopen("/etc/passwd", "re");
  if (!in) return false;
  passwd e {};
  passwd* ep = nullptr;
  int rc = 0;
  while ((rc = ::fgetpwent_r(in, &e, buf.data(), buf.size(), &ep)) == 0 && ep) {
    if (e.pw_gid == gid && e.pw_uid != me) f->another_users_primary = true;
  }
  std::fclose(in);
  return rc == ENOENT;   // read to the end (not stopped by a line too long for the buffer)
}

}  // namespace

bool private_group(gid_t gid) {
  static std::mutex mu;
  static std::map<gid_t, bool> known;
  std::lock_guard lock(mu);
  auto it = known.find(gid);
  if (it != known.end()) return it->second;
  GroupFacts f;
  bool yes = read_facts(gid, &f) && is_private_group(f);
  known.emplace(gid, yes);
  return yes;
}

bool others_may_write(const struct stat& st) {
  if (st.st_mode & S_IWOTH) return true;
  return (st.st_mode & S_IWGRP) && !private_group(st.st_gid);
}

}  // namespace zbuild
