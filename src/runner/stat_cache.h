// A per-user cache of the digests of files outside the exec root (system headers, the
// compiler), so each zbuild-cc does not rehash hundreds of unchanged headers: a digest is
// reused while the file's device, inode, size, mtime and ctime (nanoseconds) are unchanged.
// Package upgrades replace files (new inode, new ctime), so they are seen. A file whose mtime
// or ctime is less than two seconds old is hashed but not remembered, so a write within one
// timestamp tick cannot hide behind an old entry. Files under the exec root (what developers
// edit) are always hashed, never cached here.
//
// File format, version 1 (text; default $XDG_CACHE_HOME/zbuild/hoststat-1, else
// ~/.cache/zbuild/hoststat-1; ZBUILD_STAT_CACHE=PATH moves it, ZBUILD_STAT_CACHE=off disables):
//   zbuild-hoststat 1
//   <dev> <ino> <size> <mtime_ns> <ctime_ns> <32 hex digest> <absolute path>
// Runners append the entries they learnt in one write(2) with O_APPEND (whole lines, so
// concurrent runners do not interleave); the last line for a path wins; malformed lines are
// ignored. Past 512 KiB the file is rewritten with one line per path (temp file + rename).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "common/digest.h"
#include "common/result.h"

namespace zbuild::runner {

class StatCache {
 public:
  // `path` empty: no cache (every call hashes).
  explicit StatCache(std::string path) : path_(std::move(path)) {}

  Result<Digest> digest(const std::string& abs_path);
  // Appends the entries learnt by this process. Safe to call more than once.
  void flush();

  uint64_t hits() const { return hits_; }
  uint64_t hashed() const { return hashed_; }
  // Files younger than this are not remembered (tests set 0).
  void set_min_age_ns(int64_t ns) { min_age_ns_ = ns; }

 private:
  struct Entry {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    Digest digest;
  };
  void load();
  static std::string line(const std::string& path, const Entry& e);

  std::string path_;
  bool loaded_ = false;
  size_t file_size_ = 0;
  std::unordered_map<std::string, Entry> entries_;
  std::string pending_;          // lines to append
  uint64_t hits_ = 0, hashed_ = 0;
  int64_t min_age_ns_ = 2'000'000'000;
};

// ZBUILD_STAT_CACHE, else the default location above; empty when disabled.
std::string default_stat_cache_path();

}  // namespace zbuild::runner
