// Placing files of the worker's blob cache in a folder — a task's inputs in its folder (once per
// task), a shipped toolchain's files in its private root — and emptying a task's folder after
// it. Each step does as few system calls as it can (a compile has tens of inputs); nothing here
// follows a link a task may have left.
#pragma once

#include <set>
#include <string>

#include "common/result.h"

namespace zbuild::worker {

// Copies the file `from` (a blob of the worker's cache) to `to`, a path whose parent exists. `to` is made new (a file already there is replaced; a link there
// is not followed), mode 0755 when `executable`, else 0644, whatever the umask.
Status copy_input(const std::string& from, const std::string& to, bool executable);

// Makes the folders on the way to `rel` (a relative, checked path) under `dir`; anything else
// on the way (a file, a link) is an error. `made` holds the folders already there (relative to
// `dir`; kept by the caller for one task, or for one toolchain root), so each is made or looked
// at once.
Status make_folders_to(const std::string& dir, const std::string& rel, std::set<std::string>& made);

// Removes every entry of the folder open as `fd` (consumed) but a real folder named `keep`
// (null: none), with unlinkat relative to each folder: no link is followed and no path is
// walked from the root again. A folder the task made unreadable is opened up first. False
// when something could not be removed (or the tree is deeper than the limit).
bool remove_entries_at(int fd, const char* keep);

}  // namespace zbuild::worker
