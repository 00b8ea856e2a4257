#include "worker/host_check.h"

#include <sys/stat.h>

namespace zbuild::worker {

Status HostFileChecker::check(const std::vector<HostFileSpec>& files) {
  for (auto& f : files) {
    struct stat st {};
    if (::stat(f.path.c_str(), &st) != 0) {
      return make_error("toolchain mismatch: " + f.path + " does not exist on this worker");
    }
    uint64_t mt = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + static_cast<uint64_t>(st.st_mtim.tv_nsec);
    Digest have;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = known_.find(f.path);
      if (it != known_.end() && it->second.size == static_cast<uint64_t>(st.st_size) && it->second.mtime_ns == mt &&
          it->second.ino == st.st_ino) {
        have = it->second.digest;
      }
    }
    if (have.empty()) {
      auto d = digest_file(f.path);
      if (!d.ok()) return make_error("toolchain check: " + d.error().message);
      have = d.value();
      std::lock_guard<std::mutex> lock(mu_);
      known_[f.path] = Stamp{static_cast<uint64_t>(st.st_size), mt, st.st_ino, have};
    }
    if (have != f.digest) {
      return make_error("toolchain mismatch: " + f.path + " differs on this worker (have " + have.str() +
                        ", task wants " + f.digest.str() + ")");
    }
  }
  return {};
}

}  // namespace zbuild::worker
