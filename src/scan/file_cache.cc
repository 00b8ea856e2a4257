#include "scan/file_cache.h"

#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "common/digest.h"
#include "common/owner.h"

namespace zbuild::scan {

namespace {

constexpr std::string_view kMagic = "zbscanf\n";
constexpr std::string_view kPackMagic = "zbscanp\n";
constexpr std::string_view kListingsMagic = "zbscand\n";
constexpr uint32_t kVersion = 1;
constexpr size_t kMaxEntryBytes = 64u << 20;                 // the scanner reads headers up to 64 MiB
constexpr uint8_t kMaxKind = static_cast<uint8_t>(DirKind::Error);
constexpr size_t kChecksumBytes = 16;
constexpr int64_t kTouchAfterS = 86400;                       // a hit refreshes an entry's mtime once a day
constexpr int64_t kStaleTempNs = 3600ll * 1'000'000'000;      // a temp file this old lost its writer

template <class T>
void put_le(std::string* out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void put_u32(std::string* out, uint32_t v) { put_le(out, v); }
void put_u64(std::string* out, uint64_t v) { put_le(out, v); }
void put_bytes(std::string* out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

// Reads from untrusted bytes; every read is checked against the end, and a failed read leaves
// the reader failed (later reads fail too).
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool ok() const { return ok_; }
  size_t left() const { return s_.size() - pos_; }
  uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(s_[pos_++]);
  }
  uint32_t u32() { return le<uint32_t>(); }
  uint64_t u64() { return le<uint64_t>(); }
  std::string_view bytes(size_t n) {
    if (!need(n)) return {};
    auto v = s_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string_view sized() { return bytes(u32()); }

 private:
  template <class T>
  T le() {
    if (!need(sizeof(T))) return 0;
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= T{static_cast<uint8_t>(s_[pos_ + i])} << (8 * i);
    pos_ += sizeof(T);
    return v;
  }
  bool need(size_t n) {
    if (ok_ && n <= left()) return true;
    ok_ = false;
    return false;
  }
  std::string_view s_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// A file's or folder's stat stamps: dev, ino, size, mtime_ns, ctime_ns (each 8 bytes).
void put_stamp(std::string* out, const FileStamp& s) {
  put_u64(out, s.dev);
  put_u64(out, s.ino);
  put_u64(out, s.size);
  put_u64(out, static_cast<uint64_t>(s.mtime_ns));
  put_u64(out, static_cast<uint64_t>(s.ctime_ns));
}
FileStamp read_stamp(Reader& r) {
  FileStamp s;
  s.dev = r.u64();
  s.ino = r.u64();
  s.size = r.u64();
  s.mtime_ns = static_cast<int64_t>(r.u64());
  s.ctime_ns = static_cast<int64_t>(r.u64());
  return s;
}

int64_t now_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// Reads the whole of `fd` when it is a regular file of ours that nobody else may write, of at
// most `max` bytes; else nullopt.
std::optional<std::string> read_own_file(int fd, struct stat& st, uint64_t max = kMaxEntryBytes) {
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || others_may_write(st) ||
      static_cast<uint64_t>(st.st_size) > max) {
    return std::nullopt;
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;   // shrank since fstat: torn
    got += static_cast<size_t>(n);
  }
  return out;
}

// A pack as mapped: read-only, private, its pages mapped at once (MAP_POPULATE), so that a
// compile reading a few hundred kilobytes of pack neither zeroes nor copies them nor takes a
// fault per page. Checked as read_own_file() checks; the mapping keeps the inode it was made
// of, so a pack rewritten meanwhile (temp file + rename) changes nothing here. Only its owner
// can write the file (checked): one who truncates it in place can make this process fault, as
// it can anyway.
struct MappedFile {
  const char* data = nullptr;
  size_t size = 0;
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data) ::munmap(const_cast<char*>(data), size);
  }
};

std::shared_ptr<const MappedFile> map_own_file(int fd, struct stat& st, uint64_t max) {
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || others_may_write(st) ||
      st.st_size <= 0 || static_cast<uint64_t>(st.st_size) > max) {
    return nullptr;
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return nullptr;
  auto m = std::make_shared<MappedFile>();
  m->data = static_cast<const char*>(p);
  m->size = static_cast<size_t>(st.st_size);
  return m;
}

// A pack or listings file, mapped as map_own_file() maps (not followed when a link); its mtime
// says when it was last used (trim() removes the oldest first), set once a day.
std::shared_ptr<const MappedFile> map_cache_file(const std::string& path, uint64_t max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return nullptr;
  struct stat st {};
  auto mapped = map_own_file(fd, st, max);
  if (mapped && st.st_mtim.tv_sec < now_ns() / 1'000'000'000 - kTouchAfterS) ::futimens(fd, nullptr);
  ::close(fd);
  return mapped;
}

// The path an entry names, read without checking the rest (get() decodes it whole before use).
std::optional<std::string_view> entry_path_of(std::string_view entry) {
  Reader r(entry);
  if (r.bytes(kMagic.size()) != kMagic) return std::nullopt;
  r.bytes(4 + 4 + 5 * 8);   // version, flags, stamps
  auto path = r.sized();
  if (!r.ok()) return std::nullopt;
  return path;
}

}  // namespace

FileStamp stamp_of(const struct stat& st) {
  return FileStamp{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                   int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                   int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec};
}

std::string encode_file_entry(const FileEntry& e) {
  std::string out;
  size_t guess = 96 + e.path.size() + e.info.guard.size();
  for (auto& d : e.info.directives) guess += 9 + d.text.size();
  out.reserve(guess + kChecksumBytes);
  out.append(kMagic);
  put_u32(&out, kVersion);
  put_u32(&out, 0);
  put_stamp(&out, e.stamp);
  put_bytes(&out, e.path);
  put_bytes(&out, e.info.guard);
  put_u32(&out, static_cast<uint32_t>(e.info.directives.size()));
  for (auto& d : e.info.directives) {
    out.push_back(static_cast<char>(d.kind));
    put_u32(&out, d.line);
    put_bytes(&out, d.text);
  }
  Digest sum = digest_bytes(out);
  put_u64(&out, sum.hi);
  put_u64(&out, sum.lo);
  return out;
}

std::optional<FileEntry> decode_file_entry(std::string_view bytes, std::shared_ptr<const void> keep) {
  if (!keep) {
    auto copy = std::make_shared<const std::string>(bytes);
    bytes = *copy;
    keep = std::move(copy);
  }
  if (bytes.size() < kMagic.size() + kChecksumBytes || bytes.substr(0, kMagic.size()) != kMagic) return std::nullopt;
  std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  Reader sum(bytes.substr(body.size()));
  Digest want = digest_bytes(body);
  if (sum.u64() != want.hi || sum.u64() != want.lo) return std::nullopt;
  Reader r(body.substr(kMagic.size()));
  if (r.u32() != kVersion || r.u32() != 0) return std::nullopt;
  FileEntry e;
  e.stamp = read_stamp(r);
  e.path = std::string(r.sized());
  e.info.guard = std::string(r.sized());
  uint32_t count = r.u32();
  if (!r.ok() || count > r.left() / 9) return std::nullopt;   // 9: the smallest directive
  e.info.directives.reserve(count);
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    uint8_t kind = r.u8();
    uint32_t line = r.u32();
    std::string_view text = r.sized();
    if (kind > kMaxKind) return std::nullopt;
    e.info.directives.push_back(Directive{static_cast<DirKind>(kind), line, text});
  }
  if (!r.ok() || r.left() != 0) return std::nullopt;
  e.info.storage = std::move(keep);
  return e;
}

FileCache::FileCache(const std::string& dir) : dir_(dir.empty() ? std::string() : dir + "/files-1") {
  if (dir_.empty()) state_ = -1;
}

std::string FileCache::entry_path(const std::string& path) const { return dir_ + "/" + digest_bytes(path).hex(); }

bool FileCache::usable() {
  if (state_ != 0) return state_ > 0;
  // The folder must be a folder (not a link) of ours that no one else may write, or the cache
  // stays off for this process. A missing one is made one folder at a time, each private.
  bool ok = private_dir(dir_);
  state_ = ok ? 1 : -1;
  return ok;
}

std::shared_ptr<const FileInfo> FileCache::get(const std::string& path, const FileStamp& stamp) {
  if (!usable()) return nullptr;
  if (auto it = pack_.find(path); it != pack_.end()) {
    auto e = decode_file_entry(it->second, pack_bytes_);
    if (e && e->path == path && e->stamp == stamp) {
      ++hits_;
      ++pack_hits_;
      pack_used_.insert(it->first);
      return std::make_shared<const FileInfo>(std::move(e->info));
    }
  }
  ++misses_;   // until proven a hit
  int fd = ::open(entry_path(path).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return nullptr;
  struct stat st {};
  auto bytes = read_own_file(fd, st);
  std::shared_ptr<const std::string> held = bytes ? std::make_shared<const std::string>(std::move(*bytes)) : nullptr;
  auto e = held ? decode_file_entry(*held, held) : std::nullopt;
  if (!e || e->path != path || !(e->stamp == stamp)) {
    ::close(fd);
    return nullptr;
  }
  // Its mtime says when it was last used (trim() removes the oldest first); set once a day.
  if (st.st_mtim.tv_sec < now_ns() / 1'000'000'000 - kTouchAfterS) ::futimens(fd, nullptr);
  ::close(fd);
  --misses_;
  ++hits_;
  if (!pack_file_.empty()) fresh_[path] = std::move(held);   // the same bytes, not a copy
  return std::make_shared<const FileInfo>(std::move(e->info));
}

void FileCache::put(const std::string& path, const FileStamp& stamp, const FileInfo& info) {
  int64_t young = now_ns() - min_age_ns_;
  if (stamp.mtime_ns >= young || stamp.ctime_ns >= young) return;   // racy: may change within its tick
  if (!usable()) return;
  std::string bytes = encode_file_entry(FileEntry{path, stamp, info});
  if (bytes.size() > kMaxEntryBytes) return;
  std::string final_path = entry_path(path);
  if (!write_atomic(final_path, bytes)) return;
  ++writes_;
  if (!pack_file_.empty()) fresh_[path] = std::make_shared<const std::string>(std::move(bytes));
  if (final_path.compare(final_path.size() - 32, 2, "00") == 0) trim();   // one path in 256
}

bool FileCache::write_atomic(const std::string& final_path, const std::string& bytes) {
  std::string tmp = final_path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(tmp_seq_++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  bool ok = ::close(fd) == 0 && done == bytes.size();
  if (ok && ::rename(tmp.c_str(), final_path.c_str()) == 0) return true;
  ::unlink(tmp.c_str());
  return false;
}

std::string FileCache::pack_path(const std::string& key) const { return dir_ + "/pack-" + digest_bytes(key).hex(); }

void FileCache::use_pack(const std::string& key) {
  if (!pack_file_.empty() || !usable()) return;
  use_listings(key);
  pack_file_ = pack_path(key);
  auto mapped = map_cache_file(pack_file_, kMaxPackBytes);
  if (!mapped) return;
  std::string_view bytes(mapped->data, mapped->size);
  pack_bytes_ = std::move(mapped);
  // Untrusted bytes: a pack that does not read whole as this format is not used at all.
  Reader r(bytes);
  if (r.bytes(kPackMagic.size()) != kPackMagic || r.u32() != 1) return;
  uint32_t count = r.u32();
  if (!r.ok() || count > r.left() / 4) return;
  std::unordered_map<std::string_view, std::string_view> index;
  index.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view entry = r.sized();
    auto path = r.ok() ? entry_path_of(entry) : std::nullopt;
    if (!path) return;
    index.emplace(*path, entry);
  }
  if (r.left() != 0) return;
  pack_ = std::move(index);
}

void FileCache::save_pack() {
  save_listings();
  if (pack_file_.empty() || fresh_.empty() || !usable()) return;
  // A few entries new to a large pack are served from their own files: rewriting megabytes for
  // each compile that brings one header of its own would cost more than the opens it saves.
  if (fresh_.size() * 8 < pack_used_.size() + fresh_.size()) return;
  // This process's entries, then the pack's others (those it used first) while under the limit.
  std::vector<std::string_view> keep;
  uint64_t total = kPackMagic.size() + 8;
  for (auto& [_, entry] : fresh_) {
    keep.push_back(*entry);
    total += 4 + entry->size();
  }
  for (bool used : {true, false}) {
    for (auto& [path, entry] : pack_) {
      if (pack_used_.count(path) != (used ? 1u : 0u) || fresh_.count(path)) continue;
      if (total + 4 + entry.size() > kMaxPackBytes) continue;
      keep.push_back(entry);
      total += 4 + entry.size();
    }
  }
  if (total > kMaxPackBytes) return;
  std::string out;
  out.reserve(total);
  out.append(kPackMagic);
  put_u32(&out, 1);
  put_u32(&out, static_cast<uint32_t>(keep.size()));
  for (auto entry : keep) put_bytes(&out, entry);
  write_atomic(pack_file_, out);
}

size_t FileCache::trim() {
  if (!usable()) return 0;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return 0;
  struct Entry {
    int64_t used_ns;
    uint64_t bytes;
    std::string name;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  const int64_t now = now_ns();
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (name.find(".tmp.") != std::string::npos) {   // a writer's, or one that died before its rename
      if (now - mtime > kStaleTempNs) ::unlinkat(::dirfd(d), name.c_str(), 0);
      continue;
    }
    uint64_t bytes = static_cast<uint64_t>(st.st_blocks) * 512;
    total += bytes;
    entries.push_back({mtime, bytes, std::move(name)});
  }
  size_t removed = 0;
  if (total > max_bytes_) {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.used_ns < b.used_ns; });
    for (auto& e : entries) {
      if (total <= max_bytes_ / 4 * 3) break;
      if (::unlinkat(::dirfd(d), e.name.c_str(), 0) == 0) {
        total -= std::min(total, e.bytes);
        ++removed;
      }
    }
  }
  ::closedir(d);
  return removed;
}

// ---- Folder listings (file_cache.h)

std::string FileCache::listings_path(const std::string& key) const { return dir_ + "/dirs-" + digest_bytes(key).hex(); }

void FileCache::use_listings(const std::string& key) {
  listings_file_ = listings_path(key);
  auto mapped = map_cache_file(listings_file_, kMaxListingsBytes);
  if (!mapped) return;
  std::string_view bytes(mapped->data, mapped->size);
  // Untrusted bytes: a file that does not read whole as this format is not used at all.
  if (bytes.size() < kListingsMagic.size() + kChecksumBytes || bytes.substr(0, kListingsMagic.size()) != kListingsMagic) return;
  std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  Reader sum(bytes.substr(body.size()));
  Digest want = digest_bytes(body);
  if (sum.u64() != want.hi || sum.u64() != want.lo) return;
  Reader r(body.substr(kListingsMagic.size()));
  if (r.u32() != 1) return;
  uint32_t count = r.u32();
  if (!r.ok() || count > r.left() / 48) return;   // 48: the smallest folder record
  std::unordered_map<std::string, Listing> read;
  read.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view path = r.sized();
    Listing l;
    l.stamp = read_stamp(r);
    uint32_t names = r.u32();
    if (!r.ok() || names > kMaxListedNames || names > r.left() / 4) return;
    l.names.reserve(names);
    for (uint32_t k = 0; k < names; ++k) {
      std::string_view n = r.sized();
      if (!r.ok() || n.empty() || (!l.names.empty() && !(l.names.back() < n))) return;
      l.names.push_back(n);
    }
    if (path.empty() || !read.emplace(std::string(path), std::move(l)).second) return;
  }
  if (r.left() != 0) return;
  listings_ = std::move(read);
  listings_bytes_ = std::move(mapped);
}

FileCache::Listing FileCache::list_folder(int fd) {
  Listing l;
  l.state = -1;
  struct stat before {}, after {};
  if (::fstat(fd, &before) != 0 || !S_ISDIR(before.st_mode)) return l;
  l.stamp = stamp_of(before);
  int64_t young = now_ns() - min_age_ns_;
  if (l.stamp.mtime_ns >= young || l.stamp.ctime_ns >= young) return l;   // may change within its tick
  int dfd = ::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
  if (dfd < 0) return l;
  DIR* d = ::fdopendir(dfd);
  if (!d) {
    ::close(dfd);
    return l;
  }
  std::vector<std::string> names;
  bool too_many = false;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    if (names.size() >= kMaxListedNames) {
      too_many = true;
      break;
    }
    names.emplace_back(n);
  }
  ::closedir(d);
  ++listed_;
  if (too_many || ::fstat(fd, &after) != 0 || !(stamp_of(after) == l.stamp)) return l;   // changed while read
  std::sort(names.begin(), names.end());
  auto own = std::make_shared<std::string>();
  size_t total = 0;
  for (auto& n : names) total += n.size();
  own->reserve(total);
  for (auto& n : names) own->append(n);
  size_t at = 0;
  l.names.reserve(names.size());
  for (auto& n : names) {
    l.names.emplace_back(own->data() + at, n.size());
    at += n.size();
  }
  l.own = std::move(own);
  l.state = 1;
  return l;
}

bool FileCache::absent(const std::string& dir, int fd, std::string_view name) {
  // "." and ".." are in every folder and in no listing ("inc/sub/../x.h" names inc/sub/..).
  if (listings_file_.empty() || fd < 0 || name.empty() || name == "." || name == "..") return false;
  auto it = listings_.find(dir);
  if (it == listings_.end()) {
    it = listings_.emplace(dir, list_folder(fd)).first;
  } else if (it->second.state == 0) {   // from the file: still the folder it was read from?
    struct stat st {};
    if (::fstat(fd, &st) == 0 && stamp_of(st) == it->second.stamp) it->second.state = 1;
    else it->second = list_folder(fd);
  }
  Listing& l = it->second;
  if (l.state < 0) return false;
  l.used = true;
  return !std::binary_search(l.names.begin(), l.names.end(), name);
}

void FileCache::save_listings() {
  if (listings_file_.empty() || !usable()) return;
  bool made = false;
  for (auto& [_, l] : listings_) made = made || (l.own && l.state > 0);
  if (!made) return;
  // The listings this process used (read here or checked), then the file's others that are
  // still well-formed, while under the limit.
  std::string out;
  out.append(kListingsMagic);
  put_u32(&out, 1);
  size_t count_at = out.size();
  put_u32(&out, 0);
  uint32_t count = 0;
  for (bool used : {true, false}) {
    for (auto& [dir, l] : listings_) {
      if (l.used != used || l.state < 0) continue;
      std::string rec;
      put_bytes(&rec, dir);
      put_stamp(&rec, l.stamp);
      put_u32(&rec, static_cast<uint32_t>(l.names.size()));
      for (auto n : l.names) put_bytes(&rec, n);
      if (out.size() + rec.size() + kChecksumBytes > kMaxListingsBytes) continue;
      out.append(rec);
      ++count;
    }
  }
  for (size_t i = 0; i < 4; ++i) out[count_at + i] = static_cast<char>(count >> (8 * i));
  Digest sum = digest_bytes(out);
  put_u64(&out, sum.hi);
  put_u64(&out, sum.lo);
  write_atomic(listings_file_, out);
}

}  // namespace zbuild::scan
