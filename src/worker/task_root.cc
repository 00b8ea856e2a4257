#include "worker/task_root.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/digest.h"

namespace zbuild::worker {

namespace fs = std::filesystem;

Status empty_folder(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
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

Result<TaskRoot> choose_task_root(const std::string& requested, const fs::path& work_dir, const fs::path& shm,
                                  uint64_t min_free) {
  TaskRoot t;
  uint64_t free_bytes = 0;
  if (!requested.empty() && requested != "disk") {
    t.dir = requested;
    std::error_code ec;
    fs::create_directories(t.dir, ec);
    std::string why;
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
    if (private_folder(dir, &why)) {
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

}  // namespace zbuild::worker
