#include "common/stat_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <map>
#include <filesystem>

#include "common/fs.h"
#include "common/owner.h"
#include "common/paths.h"

namespace zbuild {

namespace {

constexpr std::string_view kMagic = "zbuild-hoststat 1 ";
constexpr size_t kHeaderBytes = 18 + 12 + 1;       // magic, 12 digits, newline
constexpr size_t kTailBytes = 64 * 1024;

int64_t ns(const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

int64_t now_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return ns(t);
}

std::string header(size_t sorted_end) {
  char buf[kHeaderBytes + 1];
  std::snprintf(buf, sizeof buf, "zbuild-hoststat 1 %012zu\n", sorted_end);
  return buf;
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

// The path of a line (after its sixth space); empty when the line is malformed.
std::string_view path_of(std::string_view l) {
  size_t sp = 0;
  for (int spaces = 0; spaces < 6; ++spaces) {
    sp = l.find(' ', sp);
    if (sp == std::string_view::npos) return {};
    ++sp;
  }
  return sp < l.size() && l[sp] == '/' ? l.substr(sp) : std::string_view();
}

bool parse_line(std::string_view l, StatCache::Entry* e) {
  size_t k = 0;
  if (!field(l, &k, &e->dev) || !field(l, &k, &e->ino) || !field(l, &k, &e->size) || !field(l, &k, &e->mtime_ns) ||
      !field(l, &k, &e->ctime_ns)) {
    return false;
  }
  if (k + 33 > l.size() || l[k + 32] != ' ') return false;
  uint64_t hi = 0, lo = 0;
  auto a = std::from_chars(l.data() + k, l.data() + k + 16, hi, 16);
  auto b = std::from_chars(l.data() + k + 16, l.data() + k + 32, lo, 16);
  if (a.ec != std::errc() || a.ptr != l.data() + k + 16 || b.ec != std::errc() || b.ptr != l.data() + k + 32) {
    return false;
  }
  e->digest = Digest{hi, lo, e->size};
  return true;
}

std::string line_for(std::string_view path, const StatCache::Entry& e) {
  return std::to_string(e.dev) + ' ' + std::to_string(e.ino) + ' ' + std::to_string(e.size) + ' ' +
         std::to_string(e.mtime_ns) + ' ' + std::to_string(e.ctime_ns) + ' ' + e.digest.hex() + ' ' +
         std::string(path) + '\n';
}

// Calls fn(line) for every complete line of [begin, end) of `data`.
template <class F>
void each_line(std::string_view data, size_t begin, size_t end, F fn) {
  while (begin < end) {
    size_t nl = data.find('\n', begin);
    if (nl == std::string_view::npos || nl >= end) break;   // a torn last line
    fn(data.substr(begin, nl - begin));
    begin = nl + 1;
  }
}

}  // namespace

Result<Digest> hash_file(const std::string& path) {
  constexpr size_t kSmallFile = 64 << 10;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return digest_file(path);   // not a plain file: the streaming reader names the problem
  }
  if (st.st_size == 0) {
    ::close(fd);
    return digest_bytes({});
  }
  size_t n = static_cast<size_t>(st.st_size);
  if (n <= kSmallFile) {
    // Most headers and sources: one read into the stack, no mapping to set up and tear down
    // (an munmap costs a TLB flush). A file that grew past the buffer is hashed the other way.
    char buf[kSmallFile + 1];
    size_t got = 0;
    for (;;) {
      ssize_t r = ::read(fd, buf + got, sizeof buf - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        int e = errno;
        ::close(fd);
        return make_error(path + ": " + std::strerror(e));
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
      if (got == sizeof buf) break;
    }
    ::close(fd);
    if (got <= kSmallFile) return digest_bytes(std::string_view(buf, got));
    return digest_file(path);
  }
  void* m = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return digest_file(path);
  Digest d = digest_bytes(std::string_view(static_cast<const char*>(m), n));
  ::munmap(m, n);
  return d;
}

std::string default_stat_cache_path() {
  if (const char* e = std::getenv("ZBUILD_STAT_CACHE"); e && *e) {
    std::string v = e;
    return v == "off" || v == "0" ? std::string() : v;
  }
  return user_cache_path("hoststat-1");
}

StatCache::~StatCache() {
  if (map_) ::munmap(const_cast<char*>(map_), size_);
}

void StatCache::load() {
  loaded_ = true;
  // The digests steer cache keys: the file is used only in a folder no other user can write or
  // swap (made 0700 when missing), and only as a regular file of this user's no one else can write.
  if (!path_.empty() && !private_dir(std::filesystem::path(path_).parent_path().string())) path_.clear();
  if (path_.empty()) return;
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    replace_ = errno != ENOENT;   // a link, or unreadable: the next flush puts a file of this user's there
    return;
  }
  struct stat st {};
  const bool own = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && !others_may_write(st);
  replace_ = !own;   // another's, or open to others: never read, and replaced by the next flush
  if (own && st.st_size > static_cast<off_t>(kHeaderBytes)) {
    void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      map_ = static_cast<const char*>(m);
      size_ = static_cast<size_t>(st.st_size);
    }
  }
  ::close(fd);
  if (!map_) return;
  std::string_view s(map_, size_);
  size_t end = 0;
  if (s.substr(0, kMagic.size()) != kMagic || s[kHeaderBytes - 1] != '\n' ||
      std::from_chars(map_ + kMagic.size(), map_ + kHeaderBytes - 1, end).ec != std::errc() || end < kHeaderBytes ||
      end > size_ || s[end - 1] != '\n') {
    sorted_end_ = 0;   // unknown format: ignored (and rewritten by the next compaction)
    return;
  }
  sorted_end_ = end;
  each_line(s, sorted_end_, size_, [&](std::string_view l) {
    if (auto p = path_of(l); !p.empty()) tail_.emplace_back(p, l);
  });
  std::stable_sort(tail_.begin(), tail_.end(), [](auto& a, auto& b) { return a.first < b.first; });
}

bool StatCache::lookup(const std::string& path, Entry* out) const {
  if (auto it = learnt_.find(path); it != learnt_.end()) {
    *out = it->second;
    return true;
  }
  auto it = std::upper_bound(tail_.begin(), tail_.end(), std::string_view(path),
                             [](std::string_view p, auto& e) { return p < e.first; });
  if (it != tail_.begin() && (it - 1)->first == path) return parse_line((it - 1)->second, out);
  // Binary search of the sorted section, by byte offset, each probe backed up to its line.
  std::string_view s(map_, size_);
  size_t lo = kHeaderBytes, hi = sorted_end_;
  while (lo < hi) {
    size_t start = lo + (hi - lo) / 2;
    while (start > lo && s[start - 1] != '\n') --start;
    size_t nl = s.find('\n', start);
    if (nl == std::string_view::npos || nl >= hi) return false;
    std::string_view l = s.substr(start, nl - start);
    std::string_view p = path_of(l);
    if (p.empty()) return false;
    if (p == path) return parse_line(l, out);
    if (p < path) lo = nl + 1;
    else hi = start;
  }
  return false;
}

Result<Digest> StatCache::digest(const std::string& abs_path,
                                 const std::function<Result<Digest>(const std::string&)>& hash) {
  if (!loaded_) load();   // may find the cache unusable (path_ cleared)
  if (path_.empty()) {
    ++hashed_;
    return hash(abs_path);
  }
  struct stat st {};
  if (::stat(abs_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    ++hashed_;
    return hash(abs_path);   // names the error
  }
  Entry cur;
  cur.dev = st.st_dev;
  cur.ino = st.st_ino;
  cur.size = static_cast<uint64_t>(st.st_size);
  cur.mtime_ns = ns(st.st_mtim);
  cur.ctime_ns = ns(st.st_ctim);
  return digest_stamped(abs_path, cur, hash);
}

Result<Digest> StatCache::digest_stamped(const std::string& abs_path, const Entry& cur,
                                         const std::function<Result<Digest>(const std::string&)>& hash) {
  if (!loaded_) load();
  if (path_.empty()) {
    ++hashed_;
    return hash(abs_path);
  }
  Entry e;
  if (lookup(abs_path, &e) && e.dev == cur.dev && e.ino == cur.ino && e.size == cur.size &&
      e.mtime_ns == cur.mtime_ns && e.ctime_ns == cur.ctime_ns) {
    ++hits_;
    return e.digest;
  }
  ++hashed_;
  auto d = hash(abs_path);
  if (!d.ok()) return d;
  // Remember it only when the file is old enough and did not change while it was read.
  struct stat after {};
  int64_t newest = std::max(cur.mtime_ns, cur.ctime_ns);
  if (now_ns() - newest >= min_age_ns_ && ::stat(abs_path.c_str(), &after) == 0 && after.st_ino == cur.ino &&
      ns(after.st_mtim) == cur.mtime_ns && ns(after.st_ctim) == cur.ctime_ns && d.value().size == cur.size &&
      abs_path.find('\n') == std::string::npos) {
    Entry learnt = cur;
    learnt.digest = d.value();
    learnt_[abs_path] = learnt;
    pending_ += line_for(abs_path, learnt);
  }
  return d;
}

void StatCache::compact() {
  // Every path once: the sorted section, overridden by the tail, overridden by this process.
  std::map<std::string_view, std::string> all;
  std::string_view s(map_ ? map_ : "", map_ ? size_ : 0);
  if (sorted_end_) {
    each_line(s, kHeaderBytes, sorted_end_, [&](std::string_view l) {
      if (auto p = path_of(l); !p.empty()) all[p] = std::string(l) + '\n';
    });
  }
  for (auto& [p, l] : tail_) all[p] = std::string(l) + '\n';
  for (auto& [p, e] : learnt_) all[p] = line_for(p, e);
  std::string body;
  for (auto& [_, l] : all) body += l;
  (void)write_file_atomic(path_, header(kHeaderBytes + body.size()) + body);
}

void StatCache::flush() {
  if (path_.empty() || pending_.empty()) return;   // pending_ is only filled after load()
  size_t tail = sorted_end_ ? size_ - sorted_end_ : size_;
  if (tail + pending_.size() > kTailBytes || (size_ && !sorted_end_) || replace_) {
    compact();
    pending_.clear();
    return;
  }
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
  if (fd < 0) return;
  struct stat st {};
  std::string data;
  if (::fstat(fd, &st) == 0 && st.st_size == 0) data = header(kHeaderBytes);
  data += pending_;
  ssize_t n = ::write(fd, data.data(), data.size());
  (void)n;   // a cache: a failed or short write loses entries, never corrupts (torn lines are skipped)
  ::close(fd);
  pending_.clear();
}

}  // namespace zbuild
