// Checks that files outside the exec root (compiler, system headers) are the same on this
// worker as on the submitting host, by digest. Digests are remembered per (path, size, mtime,
// inode), so a header is hashed once, not once per task.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "common/result.h"
#include "proto/action.h"

namespace zbuild::worker {

class HostFileChecker {
 public:
  // OK when every file matches; otherwise names the first that differs or is missing.
  Status check(const std::vector<HostFileSpec>& files);

 private:
  struct Stamp {
    uint64_t size, mtime_ns, ino;
    Digest digest;
  };
  std::mutex mu_;
  std::map<std::string, Stamp> known_;
};

}  // namespace zbuild::worker
