#include "worker/host_check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <vector>

#include "common/clock.h"
#include "common/paths.h"

namespace zbuild::worker {

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

bool HostFileChecker::under_dirs(const std::filesystem::path& p) const {
  return std::any_of(dirs_.begin(), dirs_.end(), [&](const std::string& d) { return is_under(std::filesystem::path(d), p); });
}

static bool same_file(const struct stat& st, const HostFileChecker::Stamp& k) {
  uint64_t mt = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + static_cast<uint64_t>(st.st_mtim.tv_nsec);
  uint64_t ct = static_cast<uint64_t>(st.st_ctim.tv_sec) * 1000000000ull + static_cast<uint64_t>(st.st_ctim.tv_nsec);
  return S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_dev) == k.dev && static_cast<uint64_t>(st.st_ino) == k.ino &&
         static_cast<uint64_t>(st.st_size) == k.size && mt == k.mtime_ns && ct == k.ctime_ns;
}

Result<Digest> HostFileChecker::digest_of(const std::string& path) {
  auto no = [&] { return make_error("toolchain mismatch: " + path + " is not the same on this worker"); };
  // Checked before: one stat. The path still leads to the very file hashed then (device and
  // inode; a symbolic link on the way that now points elsewhere leads to another inode), and
  // the file is unchanged (size, modification and change times: the change time cannot be set
  // back).
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = known_.find(path);
    if (it != known_.end()) {
      Stamp k = it->second;
      lock.unlock();
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && same_file(st, k)) return k.digest;
    }
  }
  char real[PATH_MAX];
  if (path.empty() || path[0] != '/' || !::realpath(path.c_str(), real)) return no();
  // The real path must stay under the toolchain folders too (no symlink out of them).
  std::filesystem::path rp = std::filesystem::path(real).lexically_normal();
  if (!under_dirs(rp)) return no();
  Fd f{::open(real, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)};
  if (f.fd < 0) return no();
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > max_size_) {
    return no();
  }
  uint64_t mt = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + static_cast<uint64_t>(st.st_mtim.tv_nsec);
  uint64_t ct = static_cast<uint64_t>(st.st_ctim.tv_sec) * 1000000000ull + static_cast<uint64_t>(st.st_ctim.tv_nsec);
  // Hashed from the descriptor opened above, within the size and time limits.
  auto hash_open = [&](const std::string&) -> Result<Digest> {
    Hasher h;
    std::vector<char> buf(1 << 16);
    int64_t deadline = clock_.now_ms() + max_ms_;
    uint64_t total = 0;
    for (;;) {
      ssize_t n = ::read(f.fd, buf.data(), buf.size());
      if (n < 0) return no();
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
      if (total > max_size_ || clock_.now_ms() > deadline) return no();
      h.update(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
    return h.finish();
  };
  Result<Digest> d = make_error("");
  {
    // The per-user cache answers for the file just checked (its real path, under the toolchain
    // folders, a regular file within the size limit) while its stamps are those it was hashed
    // at; else it is hashed here and remembered there.
    std::lock_guard<std::mutex> lock(stats_mu_);
    d = stats_ ? stats_->digest(real, hash_open) : hash_open(real);
  }
  if (!d.ok()) return no();
  std::lock_guard<std::mutex> lock(mu_);
  known_[path] = Stamp{static_cast<uint64_t>(st.st_size), mt, ct, static_cast<uint64_t>(st.st_dev),
                       static_cast<uint64_t>(st.st_ino), d.value()};
  return d.value();
}

HostFileChecker::~HostFileChecker() = default;

void HostFileChecker::remember_in(const std::string& path, int64_t min_age_ns) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_ = path.empty() ? nullptr : std::make_unique<StatCache>(path);
  if (stats_ && min_age_ns >= 0) stats_->set_min_age_ns(min_age_ns);
}

Status HostFileChecker::check(const std::vector<HostFileSpec>& files) {
  // Paths first: a task naming anything outside the toolchain folders is refused outright,
  // before any file of this host is touched.
  for (auto& f : files) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (placed_.count(f.path)) continue;   // this very path passed here before
    }
    std::filesystem::path p = std::filesystem::path(f.path).lexically_normal();
    if (!p.is_absolute() || !under_dirs(p)) {
      return make_error("host file " + f.path + " is outside this worker's toolchain folders (" +
                        [&] {
                          std::string s;
                          for (auto& d : dirs_) s += (s.empty() ? "" : ", ") + d;
                          return s;
                        }() +
                        ")");
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (placed_.size() < 100000) placed_.insert(f.path);
  }
  Status verdict;
  for (auto& f : files) {
    auto have = digest_of(f.path);
    if (!have.ok()) {
      verdict = have.error();
      break;
    }
    if (have.value() != f.digest) {
      verdict = make_error("toolchain mismatch: " + f.path + " is not the same on this worker");
      break;
    }
  }
  std::lock_guard<std::mutex> lock(stats_mu_);
  if (stats_) stats_->flush();   // what was hashed, for the next run (nothing to write: no write)
  return verdict;
}

}  // namespace zbuild::worker
