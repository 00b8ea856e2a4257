#include "runner/stat_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "common/fs.h"

namespace zbuild::runner {

namespace {

constexpr std::string_view kMagic = "zbuild-hoststat 1\n";
constexpr size_t kCompactBytes = 512 * 1024;

int64_t ns(const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

int64_t now_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return ns(t);
}

// Reads one space-terminated unsigned field of `s` at `*i`.
template <class T>
bool field(std::string_view s, size_t* i, T* out) {
  size_t sp = s.find(' ', *i);
  if (sp == std::string_view::npos) return false;
  auto [p, ec] = std::from_chars(s.data() + *i, s.data() + sp, *out);
  if (ec != std::errc() || p != s.data() + sp) return false;
  *i = sp + 1;
  return true;
}

}  // namespace

std::string default_stat_cache_path() {
  if (const char* e = std::getenv("ZBUILD_STAT_CACHE"); e && *e) {
    std::string v = e;
    return v == "off" || v == "0" ? std::string() : v;
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/zbuild/hoststat-1";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/zbuild/hoststat-1";
  return {};
}

void StatCache::load() {
  loaded_ = true;
  if (path_.empty()) return;
  auto text = read_file(path_);
  if (!text.ok()) return;
  std::string_view s = text.value();
  file_size_ = s.size();
  if (s.substr(0, kMagic.size()) != kMagic) return;
  size_t i = kMagic.size();
  while (i < s.size()) {
    size_t end = s.find('\n', i);
    if (end == std::string_view::npos) break;   // a torn last line
    std::string_view l = s.substr(0, end);
    size_t k = i;
    i = end + 1;
    Entry e;
    std::string_view hex;
    if (!field(l, &k, &e.dev) || !field(l, &k, &e.ino) || !field(l, &k, &e.size) || !field(l, &k, &e.mtime_ns) ||
        !field(l, &k, &e.ctime_ns)) {
      continue;
    }
    if (k + 34 > l.size() || l[k + 32] != ' ' || l[k + 33] != '/') continue;
    auto d = Digest::parse(std::string(l.substr(k, 32)) + "-" + std::to_string(e.size));
    if (!d.ok()) continue;
    e.digest = d.value();
    entries_[std::string(l.substr(k + 33))] = e;
  }
}

std::string StatCache::line(const std::string& path, const Entry& e) {
  return std::to_string(e.dev) + ' ' + std::to_string(e.ino) + ' ' + std::to_string(e.size) + ' ' +
         std::to_string(e.mtime_ns) + ' ' + std::to_string(e.ctime_ns) + ' ' + e.digest.hex() + ' ' + path + '\n';
}

Result<Digest> StatCache::digest(const std::string& abs_path) {
  if (path_.empty()) {
    ++hashed_;
    return digest_file(abs_path);
  }
  if (!loaded_) load();
  struct stat st {};
  if (::stat(abs_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    ++hashed_;
    return digest_file(abs_path);   // names the error
  }
  Entry cur;
  cur.dev = st.st_dev;
  cur.ino = st.st_ino;
  cur.size = static_cast<uint64_t>(st.st_size);
  cur.mtime_ns = ns(st.st_mtim);
  cur.ctime_ns = ns(st.st_ctim);
  auto it = entries_.find(abs_path);
  if (it != entries_.end()) {
    const Entry& e = it->second;
    if (e.dev == cur.dev && e.ino == cur.ino && e.size == cur.size && e.mtime_ns == cur.mtime_ns &&
        e.ctime_ns == cur.ctime_ns) {
      ++hits_;
      return e.digest;
    }
  }
  ++hashed_;
  auto d = digest_file(abs_path);
  if (!d.ok()) return d;
  // Remember it only when the file is old enough and did not change while it was read.
  struct stat after {};
  int64_t newest = std::max(cur.mtime_ns, cur.ctime_ns);
  if (now_ns() - newest >= min_age_ns_ && ::stat(abs_path.c_str(), &after) == 0 && after.st_ino == st.st_ino &&
      ns(after.st_mtim) == cur.mtime_ns && ns(after.st_ctim) == cur.ctime_ns && d.value().size == cur.size &&
      abs_path.find('\n') == std::string::npos) {
    cur.digest = d.value();
    entries_[abs_path] = cur;
    pending_ += line(abs_path, cur);
  }
  return d;
}

void StatCache::flush() {
  if (path_.empty() || pending_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  if (file_size_ + pending_.size() > kCompactBytes) {
    std::string all(kMagic);
    for (auto& [p, e] : entries_) all += line(p, e);
    (void)write_file_atomic(path_, all);
    pending_.clear();
    return;
  }
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  struct stat st {};
  std::string data;
  if (::fstat(fd, &st) == 0 && st.st_size == 0) data = kMagic;
  data += pending_;
  ssize_t n = ::write(fd, data.data(), data.size());
  (void)n;   // a cache: a failed or short write loses entries, never corrupts (torn lines are skipped)
  ::close(fd);
  pending_.clear();
}

}  // namespace zbuild::runner
