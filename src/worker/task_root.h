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
};

// `requested`: the operator's --task-dir (made if missing, emptied), "disk" for work_dir/sandbox,
// or empty (auto: /dev/shm when it is a tmpfs with at least `min_free` bytes free, named after
// this user and the work folder so a restarted worker empties what a killed one left; a folder
// of that name that is not this user's own 0700 folder is not used).
Result<TaskRoot> choose_task_root(const std::string& requested, const std::filesystem::path& work_dir,
                                  const std::filesystem::path& shm = "/dev/shm", uint64_t min_free = 1ull << 30);

// Removes everything inside `dir` (not `dir` itself).
Status empty_folder(const std::filesystem::path& dir);

}  // namespace zbuild::worker
