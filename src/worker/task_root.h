// Where a worker's task folders live. Every task fills a folder with its inputs and empties it
// afterwards, so the folder's file system pays an inode created and freed per input, output and
// temporary file (the compiler's assembly goes to the task's TMPDIR). On a memory file system
// (tmpfs) that costs next to nothing; on a disk it is the largest part of a short task's cost
// (ext4 without a journal most). So by default task folders go to a private folder on /dev/shm
// when that is a tmpfs with room, else under the worker's work folder.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"

namespace zbuild::worker {

struct TaskRoot {
  std::filesystem::path dir;   // exists, empty, this user's only
  bool on_tmpfs = false;
  bool owned = false;          // made here for this worker: removed when it stops
  std::string why;             // how it was chosen (logged)
  int lock_fd = -1;            // owned: held (flock) while the worker runs; close it when done
};

// `requested`: the operator's --task-dir (made if missing, emptied), "disk" for work_dir/sandbox,
// or empty (auto: /dev/shm when it is a tmpfs with at least `min_free` bytes free, named after
// this user and the work folder; a folder of that name that is not this user's own 0700 folder
// is not used). Each such folder holds a lock while its worker runs: this user's folders there
// whose lock is free were left by killed workers, and are removed.
Result<TaskRoot> choose_task_root(const std::string& requested, const std::filesystem::path& work_dir,
                                  const std::filesystem::path& shm = "/dev/shm", uint64_t min_free = 1ull << 30);

// Removes everything inside `dir` (not `dir` itself, nor its lock file).
Status empty_folder(const std::filesystem::path& dir);

// Stops using `t`: an owned folder is removed (its lock released), another one emptied.
void release_task_root(TaskRoot& t);

// The worker's default work folder, `parent`/zbuild-worker-PID, made this user's private
// (0700) folder and locked while the worker runs (close lock_fd after removing the folder).
// First removes this user's zbuild-worker-* folders in `parent` whose lock is free: left by
// workers that were killed.
struct WorkFolder {
  std::filesystem::path dir;
  int lock_fd = -1;
};
Result<WorkFolder> claim_work_folder(const std::filesystem::path& parent, int pid);

}  // namespace zbuild::worker
