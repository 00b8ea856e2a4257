#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

#include "common/owner.h"
#include "common/paths.h"

namespace zbuild {

namespace fs = std::filesystem;

namespace {
std::string errno_msg(const std::filesystem::path& p, const char* op) {
  return p.string() + ": " + op + ": " + std::strerror(errno);
}
std::atomic<uint64_t> g_tmp_counter{0};

// realpath(3) as a string; empty with errno set when it fails.
std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  if (!::realpath(p.c_str(), buf)) return {};
  return buf;
}

// The path of an open file descriptor as the kernel knows it.
std::string fd_path(int fd) {
  return real_path("/proc/self/fd/" + std::to_string(fd));
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Opens the folder `rel_dir` (relative, normalised; "" or "." for the root itself) below the
// real path of `root`, creating missing folders. Each component is opened relative to the one
// before with O_NOFOLLOW; a component that is a symbolic link is followed only when the folder
// it leads to lies under the root. Returns the folder's descriptor.
Result<int> open_folder_under_root(const fs::path& root, const std::string& rel_dir) {
  std::string real_root = real_path(root.string());
  if (real_root.empty()) return make_error(errno_msg(root, "realpath"));
  int fd = ::open(real_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(errno_msg(real_root, "open"));
  std::string walked;
  size_t i = 0;
  while (i <= rel_dir.size()) {
    size_t j = rel_dir.find('/', i);
    if (j == std::string::npos) j = rel_dir.size();
    std::string part = rel_dir.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    walked += walked.empty() ? part : "/" + part;
    if (part == "..") {
      close_fd(fd);
      return make_error((root / rel_dir).string() + ": '..' in a path below the root");
    }
    int next = ::openat(fd, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT) {
      if (::mkdirat(fd, part.c_str(), 0777) != 0 && errno != EEXIST) {
        auto e = make_error(errno_msg(root / walked, "mkdir"));
        close_fd(fd);
        return e;
      }
      next = ::openat(fd, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0 && (errno == ELOOP || errno == ENOTDIR)) {
      struct stat st {};
      if (::fstatat(fd, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        next = ::openat(fd, part.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (next >= 0) {
          std::string where = fd_path(next);
          if (where.empty() || !is_under(real_root, where)) {
            close_fd(next);
            close_fd(fd);
            return make_error((root / walked).string() + ": folder '" + walked +
                              "' is a symbolic link leading outside the root " + root.string() +
                              (where.empty() ? std::string() : " (to " + where + ")") + "; not written through it");
          }
        }
      } else {
        errno = ENOTDIR;
      }
    }
    if (next < 0) {
      auto e = make_error(errno_msg(root / walked, "open folder"));
      close_fd(fd);
      return e;
    }
    close_fd(fd);
    fd = next;
  }
  return fd;
}

}  // namespace

Result<std::string> read_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno_msg(path, "open"));
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto e = make_error(errno_msg(path, "read"));
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path, bool executable)
    : path_(std::move(path)), executable_(executable) {}

AtomicFileWriter::AtomicFileWriter(const std::filesystem::path& root, std::string_view rel, bool executable)
    : path_(root / rel), root_(root), rel_(rel), executable_(executable) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_name_.empty() && dir_fd_ >= 0) ::unlinkat(dir_fd_, tmp_name_.c_str(), 0);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

Status AtomicFileWriter::open() {
  if (!root_.empty()) {
    auto rel = normalize_relative(rel_, path_.string());
    if (!rel.ok()) return rel.error();
    if (rel.value() == ".") return make_error(path_.string() + ": the root itself is not a file");
    if (rel.value() != rel_) return make_error(path_.string() + ": path is not normalised");
    auto slash = rel_.rfind('/');
    auto dir = open_folder_under_root(root_, slash == std::string::npos ? std::string() : rel_.substr(0, slash));
    if (!dir.ok()) return dir.error();
    dir_fd_ = dir.value();
  } else {
    std::error_code ec;
    if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
    fs::path dir = path_.has_parent_path() ? path_.parent_path() : fs::path(".");
    dir_fd_ = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd_ < 0) return make_error(errno_msg(dir, "open folder"));
  }
  std::string name = path_.filename().string();
  for (int attempt = 0; attempt < 100; ++attempt) {
    tmp_name_ = name + ".zbuild-tmp." + std::to_string(::getpid()) + "." + std::to_string(g_tmp_counter++);
    fd_ = ::openat(dir_fd_, tmp_name_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   executable_ ? 0755 : 0644);
    if (fd_ >= 0 || errno != EEXIST) break;   // a leftover of an earlier process with this pid
  }
  if (fd_ < 0) {
    auto e = make_error(errno_msg(path_.parent_path() / tmp_name_, "create"));
    tmp_name_.clear();
    return e;
  }
  return {};
}

Status AtomicFileWriter::append(std::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(errno_msg(path_.parent_path() / tmp_name_, "write"));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return {};
}

Status AtomicFileWriter::commit() {
  if (fd_ < 0) return make_error(path_.string() + ": not open");
  if (::close(fd_) != 0) {
    fd_ = -1;
    return make_error(errno_msg(path_.parent_path() / tmp_name_, "close"));
  }
  fd_ = -1;
  // Within the folder opened: a symbolic link at the final name is replaced, not followed.
  std::string name = path_.filename().string();
  if (::renameat(dir_fd_, tmp_name_.c_str(), dir_fd_, name.c_str()) != 0) return make_error(errno_msg(path_, "rename"));
  committed_ = true;
  return {};
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view data, bool executable) {
  AtomicFileWriter w(path, executable);
  ZB_TRY(w.open());
  ZB_TRY(w.append(data));
  return w.commit();
}

Status write_file_under_root(const std::filesystem::path& root, std::string_view rel, std::string_view data,
                             bool executable) {
  AtomicFileWriter w(root, rel, executable);
  ZB_TRY(w.open());
  ZB_TRY(w.append(data));
  return w.commit();
}

RootGuard::RootGuard(std::filesystem::path root) : root_(std::move(root)) {
  real_root_ = real_path(root_.string());
  if (real_root_.empty()) root_error_ = errno_msg(root_, "realpath");
}

Result<std::string> RootGuard::real_folder(const std::string& rel_dir) {
  if (rel_dir.empty() || rel_dir == ".") return real_root_;
  auto it = folders_.find(rel_dir);
  if (it != folders_.end()) return it->second;
  Result<std::string> r(std::string{});
  // From its parent's real path: a folder that is no link is that path and its name (one lstat,
  // not realpath's readlink of every folder from /).
  auto cut = rel_dir.rfind('/');
  std::string name = cut == std::string::npos ? rel_dir : rel_dir.substr(cut + 1);
  if (name != "." && name != "..") {
    auto parent = real_folder(cut == std::string::npos ? std::string() : rel_dir.substr(0, cut));
    struct stat st {};
    if (!parent.ok() || parent.value().empty()) {   // outside, or not there: so is this one
      folders_.emplace(rel_dir, parent);
      return parent;
    }
    std::string here = parent.value() + "/" + name;
    int got = ::lstat(here.c_str(), &st);
    if (got == 0 && !S_ISLNK(st.st_mode)) {
      folders_.emplace(rel_dir, here);
      return here;
    }
    if (got != 0 && (errno == ENOENT || errno == ENOTDIR)) {
      folders_.emplace(rel_dir, std::string{});
      return std::string{};
    }
  }
  std::string real = real_path((root_ / rel_dir).string());
  if (!real.empty()) {
    if (!is_under(real_root_, real)) {
      r = make_error("folder '" + rel_dir + "' leads outside the root " + root_.string() + " (to " + real +
                     "): a symbolic link on the way points there");
    } else {
      r = real;
    }
  } else if (errno == ENOENT || errno == ENOTDIR) {
    // Not there (yet): what exists of it must be inside.
    auto slash = rel_dir.rfind('/');
    auto parent = real_folder(slash == std::string::npos ? std::string() : rel_dir.substr(0, slash));
    if (!parent.ok()) r = parent.error();
  } else {
    r = make_error(errno_msg(root_ / rel_dir, "realpath"));
  }
  folders_.emplace(rel_dir, r);
  return r;
}

Status RootGuard::check_folder(std::string_view rel_dir) {
  if (!root_error_.empty()) return make_error(root_error_);
  auto f = real_folder(std::string(rel_dir));
  if (!f.ok()) return f.error();
  return {};
}

Status RootGuard::check(std::string_view rel_view) {
  if (!root_error_.empty()) return make_error(root_error_);
  std::string rel(rel_view);
  if (rel.empty() || rel == ".") return {};
  auto slash = rel.rfind('/');
  auto folder = real_folder(slash == std::string::npos ? std::string() : rel.substr(0, slash));
  if (!folder.ok()) return make_error("'" + rel + "': " + folder.error().message);
  if (folder.value().empty()) return {};   // its folder does not exist: nothing to read
  std::string full = folder.value() + "/" + rel.substr(slash == std::string::npos ? 0 : slash + 1);
  struct stat st {};
  if (::lstat(full.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return {};
  std::string real = real_path(full);
  if (real.empty()) return {};             // a dangling link: nothing to read
  if (!is_under(real_root_, real)) {
    return make_error("'" + rel + "' is a symbolic link leading outside the root " + root_.string() + " (to " + real +
                      ")");
  }
  return {};
}

// Every folder on the way to `path` (absolute), as named and where a link on the way leads, is
// one no other user can change: owned by root or this user, and writable by no one else (its
// group may write it when that is the user's private group: common/owner.h) unless
// sticky (in /tmp others cannot rename or remove what is this user's). A link must be owned by
// root or this user too. A folder found so is remembered for the process: only root or this
// user could change that, so the folders the per-user caches share are looked at once.
static bool trusted_way(const std::string& path, int links) {
  static std::mutex mu;
  static std::set<std::string> trusted;   // folders, as named, found trusted by this process
  if (links > 40 || path.empty() || path[0] != '/') return false;
  const uid_t me = ::geteuid();
  auto owned = [&](const struct stat& st) { return st.st_uid == 0 || st.st_uid == me; };
  auto closed = [](const struct stat& st) { return !others_may_write(st) || (st.st_mode & S_ISVTX); };
  auto known = [&](const std::string& dir) {
    std::lock_guard lock(mu);
    return trusted.count(dir) > 0;
  };
  auto learn = [&](const std::string& dir) {
    std::lock_guard lock(mu);
    trusted.insert(dir);
  };
  struct stat st {};
  if (!known("/")) {
    if (::lstat("/", &st) != 0 || !owned(st) || !closed(st)) return false;
    learn("/");
  }
  std::string at;
  for (size_t i = 1; i <= path.size(); ++i) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) {
      at += "/" + path.substr(i, j - i);
      if (!known(at)) {
        if (::lstat(at.c_str(), &st) != 0 || !owned(st)) return false;
        if (S_ISLNK(st.st_mode)) {
          char real[PATH_MAX];
          if (!::realpath(at.c_str(), real) || !trusted_way(real, links + 1)) return false;
          at = real;
        } else if (!S_ISDIR(st.st_mode) || !closed(st)) {
          return false;
        } else {
          learn(at);
        }
      }
    }
    i = j;
  }
  return true;
}

bool private_dir(const std::string& dir) {
  if (dir.empty() || dir[0] != '/') return false;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 && errno == ENOENT) {
    for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
      if (::mkdir(dir.substr(0, slash).c_str(), 0700) != 0 && errno != EEXIST) break;
      if (slash == std::string::npos) break;
    }
  }
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || others_may_write(st)) {
    return false;
  }
  const size_t slash = dir.find_last_of('/');
  return trusted_way(slash == 0 ? std::string("/") : dir.substr(0, slash), 0);
}

bool is_executable_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR);
}

}  // namespace zbuild
