// File helpers. Every output zbuild writes goes through write_file_atomic: a temp file in the
// same directory, then rename, so a reader sees the old file or the new one, never a torn one.
//
// Files under an exec root come from a graph or a source tree, which may be hostile: outputs
// are written with the root-confined writer (write_file_under_root, AtomicFileWriter with a
// root), and inputs are checked with RootGuard before they are read and shipped.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace zbuild {

Result<std::string> read_file(const std::filesystem::path& path);
Status write_file_atomic(const std::filesystem::path& path, std::string_view data, bool executable = false);
// The same, confined to `root` (see AtomicFileWriter's root constructor).
Status write_file_under_root(const std::filesystem::path& root, std::string_view rel, std::string_view data,
                             bool executable = false);

// Streams a file into `path` atomically through a callback that appends chunks. The temp file
// is created with O_EXCL|O_NOFOLLOW in the destination's folder and renamed over the final
// name, so a symbolic link at the destination is replaced, never written through.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path path, bool executable = false);
  // Confined to `root`: writes `rel` (relative, normalised, not ".") below the root's real
  // path. Missing folders are created one at a time; a folder on the way that is a symbolic
  // link is followed only when it leads to a folder under the root, else open() fails naming
  // it. Every step after that is relative to the folder opened (no path is resolved twice).
  AtomicFileWriter(const std::filesystem::path& root, std::string_view rel, bool executable);
  ~AtomicFileWriter();  // removes the temp file unless commit() succeeded
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  Status open();
  Status append(std::string_view data);
  Status commit();

 private:
  std::filesystem::path path_;   // for messages (root/rel when confined)
  std::filesystem::path root_;   // empty: not confined
  std::string rel_;
  std::string tmp_name_;         // in the folder dir_fd_
  bool executable_;
  int dir_fd_ = -1;
  int fd_ = -1;
  bool committed_ = false;
};

// Reading below an exec root: symbolic links are followed only while they stay under it.
// A graph input or a header that is a link to /etc/passwd, or lies in a folder that is a link
// to $HOME, would otherwise be read and shipped to workers as part of the tree.
// Not thread-safe (it remembers the real path of each folder it resolved).
class RootGuard {
 public:
  explicit RootGuard(std::filesystem::path root);
  // OK when `rel` (relative to the root, normalised) does not exist, or when its real path
  // (every link on the way followed) lies under the root's real path. The error names `rel`
  // and where it leads.
  Status check(std::string_view rel);
  // The same for a folder, links in it included; a folder that does not exist yet is checked
  // as far as it exists (for outputs: the writer creates the rest).
  Status check_folder(std::string_view rel_dir);
  const std::string& real_root() const { return real_root_; }

 private:
  // The folder's real path, "" when it does not exist (its existing part was checked).
  Result<std::string> real_folder(const std::string& rel_dir);
  std::filesystem::path root_;
  std::string real_root_;
  std::string root_error_;
  std::map<std::string, Result<std::string>> folders_;
};

bool is_executable_file(const std::filesystem::path& path);

// A per-user cache folder (absolute `dir`) that only this user can write: made when missing,
// one folder at a time, each 0700; true only when it is a real folder (not a link) owned by
// this user and not writable by anyone else, and every folder above it (and any link on the
// way, and where it leads) belongs to root or this user and is writable by no one else unless
// sticky. A group's write bit counts only when the group is not the user's private group
// (common/owner.h: with a umask of 002 what the user makes is group-writable). What such a folder holds steers cache keys, so a folder another user could
// write, or swap for another, is not used at all.
bool private_dir(const std::string& dir);

}  // namespace zbuild
