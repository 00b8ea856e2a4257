// Checks that files outside the exec root (compiler, system headers) are the same on this
// worker as on the submitting host, by digest. Digests are remembered per (path, size, mtime,
// inode), so a header is hashed once, not once per task; with remember_in(), across runs too,
// in the per-user host-file cache zbuild-cc keeps (common/stat_cache.h: the daemon's own slots
// share it with the user's zbuild-cc, so a fresh daemon does not hash the compiler again).
//
// A task names these paths, so they are hostile: only regular files whose real path lies under
// the toolchain folders (default /usr, /opt and the /lib, /bin links into /usr; --toolchain-dir adds more) are looked at, opened
// without blocking and hashed with a size and time limit. A refusal depends only on the path
// named, and a mismatch never tells what this host has (no digest, no "missing" vs
// "different"), so the check is no oracle for the worker's files.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/stat_cache.h"
#include "proto/action.h"

namespace zbuild::worker {

class HostFileChecker {
 public:
  static std::vector<std::string> default_dirs() {
    return {"/usr", "/opt", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc/alternatives"};
  }
  // `max_ms`: the time limit for hashing one file, on `clock` (null: a steady clock).
  explicit HostFileChecker(std::vector<std::string> dirs = default_dirs(), uint64_t max_size = 1ull << 30,
                           int64_t max_ms = 10000, const Clock* clock = nullptr)
      : dirs_(std::move(dirs)), max_size_(max_size), max_ms_(max_ms), clock_(clock ? *clock : steady_clock()) {}

  ~HostFileChecker();

  // OK when every file matches; otherwise names the first that does not.
  Status check(const std::vector<HostFileSpec>& files);

  // Digests are also looked up in, and added to, the host-file cache at `path` (empty: none).
  // It is this user's alone or not used (StatCache). `min_age_ns`: files younger are not
  // remembered (tests set 0; negative: StatCache's default).
  void remember_in(const std::string& path, int64_t min_age_ns = -1);

  // What a file was when it was hashed.
  struct Stamp {
    uint64_t size, mtime_ns, ctime_ns, dev, ino;
    Digest digest;
  };

 private:
  Result<Digest> digest_of(const std::string& path);
  bool under_dirs(const std::filesystem::path& p) const;

  std::vector<std::string> dirs_;
  uint64_t max_size_;
  int64_t max_ms_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, Stamp> known_;
  std::mutex stats_mu_;   // a miss hashes under it: not under mu_, which every check's fast path takes
  std::unique_ptr<StatCache> stats_;
  std::set<std::string> placed_;   // paths found inside the toolchain folders (checked by name once)
};

}  // namespace zbuild::worker
