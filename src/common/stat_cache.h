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
//   zbuild-hoststat 1 <12-digit byte offset where the sorted section ends>
//   <dev> <ino> <size> <mtime_ns> <ctime_ns> <32 hex digest> <absolute path>     sorted by path,
//   ...                                                                         one per path
//   <lines appended since, in any order>                                         the tail
// Runners append what they learnt in one write(2) with O_APPEND (whole lines, so concurrent
// runners do not interleave); a tail line wins over the sorted section and the last tail line
// for a path wins; malformed or torn lines are ignored. A runner maps the file and binary-
// searches the sorted section, so its cost does not grow with the file; once the tail passes
// 64 KiB the file is rewritten sorted, one line per path (temp file + rename).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/digest.h"
#include "common/result.h"

namespace zbuild {

// The digest of a file: read into the stack up to 64 KiB (most headers and sources), through a
// mapping above that (no buffer to allocate and fault in; no munmap for the small ones).
Result<Digest> hash_file(const std::string& path);

class StatCache {
 public:
  // `path` empty: no cache (every call hashes).
  explicit StatCache(std::string path) : path_(std::move(path)) {}
  ~StatCache();
  StatCache(const StatCache&) = delete;
  StatCache& operator=(const StatCache&) = delete;

  // The file's digest: the remembered one while its stamps are unchanged, else `hash(abs_path)`
  // (hash_file by default), remembered when the file is old enough and did not change meanwhile.
  Result<Digest> digest(const std::string& abs_path,
                        const std::function<Result<Digest>(const std::string&)>& hash = hash_file);
  struct Entry;
  // The same for a regular file the caller has just stat'ed (`stamp`: what that stat said;
  // its digest is left empty): no second stat when the stamps are remembered.
  Result<Digest> digest_stamped(const std::string& abs_path, const Entry& stamp,
                                const std::function<Result<Digest>(const std::string&)>& hash = hash_file);
  // Appends the entries learnt by this process (rewriting the file when its tail is long).
  // Safe to call more than once.
  void flush();

  uint64_t hits() const { return hits_; }
  uint64_t hashed() const { return hashed_; }
  // Files younger than this are not remembered (tests set 0).
  void set_min_age_ns(int64_t ns) { min_age_ns_ = ns; }

  struct Entry {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    Digest digest;
  };

 private:
  void load();
  bool lookup(const std::string& path, Entry* out) const;
  void compact();

  std::string path_;
  bool loaded_ = false;
  const char* map_ = nullptr;     // the file, mapped read-only
  size_t size_ = 0;
  size_t sorted_end_ = 0;         // [header, sorted_end_) is the sorted section
  bool replace_ = false;          // the file there is not one this user alone can write
  std::vector<std::pair<std::string_view, std::string_view>> tail_;   // (path, line), sorted, stable
  std::unordered_map<std::string, Entry> learnt_;                     // hashed by this process
  std::string pending_;           // lines to append
  uint64_t hits_ = 0, hashed_ = 0;
  int64_t min_age_ns_ = 2'000'000'000;
};


// ZBUILD_STAT_CACHE, else the default location above; empty when disabled.
std::string default_stat_cache_path();

}  // namespace zbuild
