#include "worker/task_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace zbuild::worker {

namespace {

Status sys_error(const std::string& what, int e) { return make_error(what + ": " + std::strerror(e)); }

// Opens `to` as a new file; one already there (a duplicate input) is unlinked first.
int create_new(const std::string& to, mode_t mode) {
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::open(to.c_str(), kFlags, mode);
  if (fd < 0 && errno == EEXIST && ::unlink(to.c_str()) == 0) fd = ::open(to.c_str(), kFlags, mode);
  return fd;
}

constexpr int kMaxDepth = 256;

bool remove_tree(int fd, const char* keep, int depth);

// Removes the entry `name` of the open folder `dir`, a folder's contents first.
bool remove_at(int dir, const char* name, unsigned char type, int depth) {
  if (type == DT_UNKNOWN) {
    struct stat st {};
    if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT;
    type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
  }
  if (type != DT_DIR) return ::unlinkat(dir, name, 0) == 0 || errno == ENOENT;
  if (depth >= kMaxDepth) return false;
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int sub = ::openat(dir, name, kFlags);
  if (sub < 0 && errno == EACCES && ::fchmodat(dir, name, 0700, AT_SYMLINK_NOFOLLOW) == 0) {
    sub = ::openat(dir, name, kFlags);
  }
  if (sub < 0) return false;
  // A folder the task left without write or search permission for its owner cannot be emptied.
  struct stat st {};
  if (::fstat(sub, &st) == 0 && (st.st_mode & 0700) != 0700) (void)::fchmod(sub, 0700);
  return remove_tree(sub, nullptr, depth + 1) && ::unlinkat(dir, name, AT_REMOVEDIR) == 0;
}

bool remove_tree(int fd, const char* keep, int depth) {
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return false;
  }
  std::vector<std::pair<std::string, unsigned char>> names;
  while (dirent* e = ::readdir(d)) {
    const char* n = e->d_name;
    if (!std::strcmp(n, ".") || !std::strcmp(n, "..")) continue;
    if (keep && !std::strcmp(n, keep) && e->d_type == DT_DIR) continue;
    names.emplace_back(n, e->d_type);
  }
  bool ok = true;
  for (auto& [n, t] : names) ok = remove_at(::dirfd(d), n.c_str(), t, depth) && ok;
  ::closedir(d);
  return ok;
}

}  // namespace

Status copy_input(const std::string& from, const std::string& to, bool executable) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return sys_error(from, errno);
  const mode_t mode = executable ? 0755 : 0644;
  int out = create_new(to, mode);
  if (out < 0) {
    int e = errno;
    ::close(in);
    return sys_error(to, e);
  }
  Status st;
  for (;;) {
    ssize_t n = ::sendfile(out, in, nullptr, 1 << 30);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) st = sys_error(to, errno);
    if (n <= 0) break;
  }
  // The umask may have taken bits the mode asks for.
  if (st.ok() && ::fchmod(out, mode) != 0) st = sys_error(to, errno);
  ::close(in);
  if (::close(out) != 0 && st.ok()) st = sys_error(to, errno);
  return st;
}

Status make_folders_to(const std::string& dir, const std::string& rel, std::set<std::string>& made) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {};
  std::string parent = rel.substr(0, slash);
  if (made.count(parent)) return {};
  for (size_t s = parent.find('/');; s = parent.find('/', s + 1)) {
    std::string step = parent.substr(0, s);
    if (!made.count(step)) {
      std::string abs = dir + "/" + step;
      struct stat st {};
      if (::mkdir(abs.c_str(), 0755) != 0 && (errno != EEXIST || ::lstat(abs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
        return make_error("cannot make the folder " + step + " in " + dir + " (something else is there)");
      }
      made.insert(step);
    }
    if (s == std::string::npos) break;
  }
  return {};
}

bool remove_entries_at(int fd, const char* keep) { return remove_tree(fd, keep, 0); }

}  // namespace zbuild::worker
