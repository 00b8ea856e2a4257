#include "worker/task_root.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/digest.h"

namespace zbuild::worker {

namespace fs = std::filesystem;

namespace {
constexpr char kLock[] = ".zbuild-worker.lock";
}

Status empty_folder(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (it->path().filename() == kLock) continue;
    fs::remove_all(it->path(), ec);
    if (ec) break;
  }
  if (ec) return make_error("emptying " + dir.string() + ": " + ec.message());
  return {};
}

static bool is_tmpfs(const fs::path& p, uint64_t* free_bytes) {
  struct statfs s {};
  if (::statfs(p.c_str(), &s) != 0) return false;
  *free_bytes = static_cast<uint64_t>(s.f_bavail) * static_cast<uint64_t>(s.f_bsize);
  return static_cast<unsigned long>(s.f_type) == TMPFS_MAGIC;
}

// `dir` made 0700, or already this user's own 0700 folder (not a link); false otherwise.
static bool private_folder(const fs::path& dir, std::string* why) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *why = dir.string() + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 07777) != 0700) {
    *why = dir.string() + " exists and is not this user's private folder";
    return false;
  }
  return true;
}

// Holds `dir`'s lock (made if missing when `create`); -1 when another process holds it, it
// cannot be had, or the lock file held is no longer the one in `dir` (a sweep removed the
// folder between our open and our lock).
static int lock_folder(const fs::path& dir, bool create) {
  fs::path file = dir / kLock;
  int fd = ::open(file.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
  if (fd < 0) return -1;
  struct stat held {}, now {};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || ::fstat(fd, &held) != 0 || ::lstat(file.c_str(), &now) != 0 ||
      held.st_dev != now.st_dev || held.st_ino != now.st_ino) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// This user's folders in `parent` named `prefix`... that no running worker holds: left by
// killed workers.
static void sweep_stale(const fs::path& parent, const std::string& prefix) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(parent, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().rfind(prefix, 0) != 0) continue;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) continue;
    // Only a folder whose worker made its lock file and is gone: one without a lock file is
    // being set up by a worker starting now.
    int fd = lock_folder(it->path(), /*create=*/false);
    if (fd < 0) continue;   // its worker runs (or is starting)
    std::error_code rec;
    fs::remove_all(it->path(), rec);
    ::close(fd);
  }
}

// `dir` made this user's private folder and locked; -1 (and `why`) when it cannot be.
static int claim_folder(const fs::path& dir, std::string* why) {
  int fd = -1;
  // A sweep by another starting worker may remove the folder between our mkdir and our lock:
  // made and locked again then (lock_folder checks that the lock it holds is the folder's).
  for (int attempt = 0; attempt < 3 && fd < 0; ++attempt) {
    if (!private_folder(dir, why)) break;
    fd = lock_folder(dir, /*create=*/true);
    if (fd < 0) *why = dir.string() + " is in use by another worker";
  }
  return fd;
}

void release_task_root(TaskRoot& t) {
  std::error_code ec;
  if (t.owned) fs::remove_all(t.dir, ec);
  else if (!t.dir.empty()) (void)empty_folder(t.dir);
  if (t.lock_fd >= 0) ::close(t.lock_fd);
  t.lock_fd = -1;
}

Result<TaskRoot> choose_task_root(const std::string& requested, const fs::path& work_dir, const fs::path& shm,
                                  uint64_t min_free) {
  TaskRoot t;
  uint64_t free_bytes = 0;
  if (!requested.empty() && requested != "disk") {
    t.dir = requested;
    std::error_code ec;
    fs::create_directories(t.dir, ec);
    if (ec) return make_error("--task-dir " + requested + ": " + ec.message());
    ZB_TRY(empty_folder(t.dir));
    t.on_tmpfs = is_tmpfs(t.dir, &free_bytes);
    t.why = "--task-dir";
    return t;
  }
  if (requested.empty() && is_tmpfs(shm, &free_bytes) && free_bytes >= min_free) {
    std::error_code ec;
    fs::path canon = fs::weakly_canonical(fs::absolute(work_dir, ec), ec);
    fs::path dir = shm / ("zbuild-tasks-" + std::to_string(::geteuid()) + "-" +
                          digest_bytes(canon.string()).hex().substr(0, 16));
    std::string why;
    sweep_stale(shm, "zbuild-tasks-" + std::to_string(::geteuid()) + "-");
    int fd = claim_folder(dir, &why);
    if (fd >= 0) {
      t.lock_fd = fd;
      ZB_TRY(empty_folder(dir));
      t.dir = dir;
      t.on_tmpfs = true;
      t.owned = true;
      t.why = "memory file system " + shm.string();
      return t;
    }
    t.why = why + "; ";
  } else if (requested.empty()) {
    t.why = shm.string() + " is not a memory file system with " + std::to_string(min_free >> 20) + " MiB free; ";
  }
  t.dir = work_dir / "sandbox";
  std::error_code ec;
  fs::remove_all(t.dir, ec);
  fs::create_directories(t.dir, ec);
  if (ec) return make_error(t.dir.string() + ": " + ec.message());
  t.on_tmpfs = is_tmpfs(t.dir, &free_bytes);
  t.why += "the work folder";
  return t;
}

Result<WorkFolder> claim_work_folder(const fs::path& parent, int pid) {
  const std::string prefix = "zbuild-worker-";
  sweep_stale(parent, prefix);
  fs::path dir = parent / (prefix + std::to_string(pid));
  // A folder of this name left without a lock file (by a worker of an earlier version) carries
  // this process's pid: no running worker of this host's pids is using it.
  struct stat st {};
  if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
      ::lstat((dir / kLock).c_str(), &st) != 0) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string why;
  int fd = claim_folder(dir, &why);
  if (fd < 0) return make_error("work folder: " + why);
  return WorkFolder{dir, fd};
}

}  // namespace zbuild::worker
