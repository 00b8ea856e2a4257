#include "runner/discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "common/address.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/owner.h"

namespace zbuild::runner {

namespace fs = std::filesystem;

namespace {

// First line of a small open file, trimmed; empty when unreadable.
std::string first_line_of(int fd) {
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n <= 0) return {};
  std::string s(buf, static_cast<size_t>(n));
  s = s.substr(0, s.find('\n'));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t')) s.pop_back();
  return s;
}

// First line of a small file, trimmed; empty when unreadable.
std::string first_line(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string s = first_line_of(fd);
  ::close(fd);
  return s;
}

// The first line of the workspace file in `dir`, when there is one that may be trusted.
// `open_folder` is the first folder of the search so far writable by other users. Sets
// `*ignored` (when still empty) for a file that is there but not trusted.
std::string trusted_workspace_line(const std::string& dir, const std::string& open_folder, std::string* ignored) {
  std::string f = dir + "/" + kWorkspaceFile;
  int fd = ::open(f.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return {};
  struct stat st {};
  std::string why = ::fstat(fd, &st) != 0 ? std::string("it cannot be examined")
                    : !S_ISREG(st.st_mode) ? std::string("it is not a regular file")
                                           : workspace_file_distrust(st, ::getuid(), open_folder);
  std::string line = why.empty() ? first_line_of(fd) : std::string();
  ::close(fd);
  if (!why.empty() && ignored->empty()) {
    *ignored = "ignoring the workspace file " + f + ": " + why + " (anyone who can write there could name their own "
               "daemon)";
  }
  return line;
}

bool same_file(const char* a, const char* b) {
  struct stat x {}, y {};
  return ::stat(a, &x) == 0 && ::stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

struct ProcInfo {
  int ppid = 0;
  std::string comm;
  unsigned long long start = 0;
};

bool read_proc(int pid, ProcInfo* out) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return false;
  const std::string& s = text.value();
  auto open = s.find('('), close = s.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  out->comm = s.substr(open + 1, close - open - 1);
  // Fields after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice threads itrealvalue starttime (field 22).
  std::vector<std::string> f;
  size_t i = close + 2;
  while (i < s.size() && f.size() < 20) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    f.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  if (f.size() < 20) return false;
  out->ppid = std::atoi(f[1].c_str());
  out->start = std::strtoull(f[19].c_str(), nullptr, 10);
  return true;
}

bool one_of(const std::string& s, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return s == n; });
}

// "pid:starttime" of the outermost build driver above us (through shells), else the parent.
std::string build_identity() {
  int pid = static_cast<int>(::getppid());
  ProcInfo info;
  std::string parent, driver;
  for (int depth = 0; depth < 32 && pid > 1 && read_proc(pid, &info); ++depth) {
    std::string id = std::to_string(pid) + ":" + std::to_string(info.start);
    if (parent.empty()) parent = id;
    if (one_of(info.comm, {"make", "gmake", "ninja", "samu", "cmake", "meson", "ctest", "scons"})) {
      driver = id;
    } else if (!one_of(info.comm, {"sh", "bash", "dash", "zsh", "ksh", "env", "nice", "time", "timeout"})) {
      break;
    }
    pid = info.ppid;
  }
  return driver.empty() ? parent : driver;
}

void remove_stale_markers(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  time_t now = ::time(nullptr);
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("fallback-", 0) != 0) continue;
    std::string p = dir + "/" + name;
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && now - st.st_mtime > 86400) ::unlink(p.c_str());
  }
  ::closedir(d);
}

}  // namespace

std::string workspace_file_distrust(const struct stat& file, uid_t me, const std::string& open_folder) {
  if (file.st_uid != me && file.st_uid != 0) {
    return "it belongs to user id " + std::to_string(file.st_uid) + ", not to you or root";
  }
  if (others_may_write(file)) return "it is writable by other users (group or others)";
  if (!open_folder.empty()) return "the folder " + open_folder + " is writable by other users (group or others)";
  return {};
}

std::string current_dir() {
  const char* pwd = std::getenv("PWD");
  if (pwd && pwd[0] == '/' && same_file(pwd, ".")) return fs::path(pwd).lexically_normal().string();
  std::error_code ec;
  return fs::current_path(ec).string();
}

Location find_daemon(const std::string& cwd) {
  Location loc;
  if (const char* e = std::getenv("ZBUILD_DAEMON"); e && *e) {
    loc.daemon = e;
    loc.source = "ZBUILD_DAEMON";
  }
  // The workspace file also names the exec root, so look for it even when ZBUILD_DAEMON is set.
  fs::path dir(cwd);
  std::string open_folder;   // the first folder on the way writable by other users
  for (int depth = 0; depth < 64; ++depth) {
    struct stat ds {};
    if (open_folder.empty() && ::stat(dir.c_str(), &ds) == 0 && others_may_write(ds)) {
      open_folder = dir.string();
    }
    std::string addr = trusted_workspace_line(dir.string(), open_folder, &loc.ignored);
    if (!addr.empty()) {
      loc.workspace = dir.string();
      if (loc.daemon.empty()) {
        loc.daemon = addr;
        loc.source = (dir / kWorkspaceFile).string();
      }
      break;
    }
    if (!dir.has_parent_path() || dir.parent_path() == dir) break;
    dir = dir.parent_path();
  }
  if (!loc.daemon.empty()) return loc;
  std::string cfg;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) cfg = std::string(x) + "/zbuild/daemon";
  else if (const char* h = std::getenv("HOME"); h && *h) cfg = std::string(h) + "/.config/zbuild/daemon";
  if (!cfg.empty()) {
    std::string addr = first_line(cfg);
    if (!addr.empty()) {
      loc.daemon = addr;
      loc.source = cfg;
      return loc;
    }
  }
  loc.daemon = kDefaultDaemon;
  loc.source = "default";
  return loc;
}

std::string choose_root(const Location& loc, const std::vector<std::string>& paths) {
  std::string root;
  if (const char* r = std::getenv("ZBUILD_ROOT"); r && *r && r[0] == '/') {
    root = fs::path(r).lexically_normal().string();
  } else if (!loc.workspace.empty()) {
    root = loc.workspace;
  } else {
    for (auto& p : paths) {
      if (root.empty()) {
        root = p;
        continue;
      }
      // Shorten `root` until `p` lies under it.
      while (!(p == root || (p.size() > root.size() && p.compare(0, root.size(), root) == 0 &&
                             (root == "/" || p[root.size()] == '/')))) {
        auto slash = root.rfind('/');
        root = slash == 0 ? "/" : root.substr(0, slash);
      }
    }
  }
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root.empty() || root == "/") return {};
  return root;
}

bool first_fallback_in_build(const std::string& daemon) {
  std::string dir;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x) dir = std::string(x) + "/zbuild";
  else dir = "/tmp/zbuild-" + std::to_string(::getuid());
  ::mkdir(dir.c_str(), 0700);
  std::string name = "fallback-" + digest_bytes(daemon + "|" + build_identity()).hex();
  int fd = ::open((dir + "/" + name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno != EEXIST;   // cannot keep a marker: warn rather than stay silent
  ::close(fd);
  remove_stale_markers(dir);
  return true;
}

}  // namespace zbuild::runner
