// The scanner's per-user cache of lexed headers (scan/file_cache.h): a second process is served
// what the first lexed, an edited header never is, and a damaged cache is only a miss.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "common/fs.h"
#include "common/temp_dir.h"
#include "scan/compiler_facts.h"
#include "scan/file_cache.h"
#include "scan/include_scan.h"

namespace fs = std::filesystem;
using namespace zbuild;
using namespace zbuild::scan;

namespace {

// Writes `p` (its folders made), in place when it exists: same inode, so only its size, mtime
// and ctime can tell the change.
void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  REQUIRE(out.good());
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st;
}

// Sets a file's mtime to `sec` seconds after the epoch (its ctime becomes now).
void set_mtime(const fs::path& p, time_t sec) {
  timespec ts[2] = {{sec, 0}, {sec, 0}};
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
}

// A small project: a source, a guarded header, a #pragma once header and one found through -I.
struct Project {
  TempDir t{"scancache"};
  std::string root = t.path.string();
  std::string cache = (t.path / "cache").string();
  Project() {
    write_text(t.path / "src/a.c", "#include \"a.h\"\n#include \"a.h\"\n#include <lib/b.h>\n#include \"same.h\"\nint x;\n");
    write_text(t.path / "src/a.h", "#ifndef A_H\n#define A_H\n#include \"once.h\"\n#endif\n");
    write_text(t.path / "src/once.h", "#pragma once\n#define ONCE 1\n");
    write_text(t.path / "inc/lib/b.h", "#if ONCE\n#include \"one.h\"\n#endif\n");
    write_text(t.path / "inc/lib/one.h", "\n");
    write_text(t.path / "inc/lib/two.h", "\n");
    write_text(t.path / "src/same.h", "\n");
  }
  ScanRequest request() const {
    ScanRequest req;
    req.cwd = root;
    req.source = "src/a.c";
    req.paths.bracket = {root + "/inc"};
    req.paths.bracket_system = {false};
    req.predefined = {"__STDC__ 1"};
    return req;
  }
  // One process's scan: a fresh DiskFiles over the cache, remembering files of any age.
  ScanResult scan(std::optional<DiskFiles>& files, const std::string& cache_dir) const {
    files.emplace(cache_dir);
    if (files->cache()) files->cache()->set_min_age_ns(0);
    return scan_includes(request(), *files);
  }
};

// How many times the scan names `path` (0 or 1).
long count_of(const ScanResult& r, const std::string& path) {
  return std::count_if(r.files.begin(), r.files.end(), [&](const ScannedFile& f) { return f.path == path; });
}

std::vector<std::string> paths_of(const ScanResult& r) {
  std::vector<std::string> out;
  for (auto& f : r.files) out.push_back(f.path + (f.system ? " (system)" : ""));
  return out;
}

FileInfo sample_info() {
  FileInfo f;
  f.guard = "G_H";
  f.directives = {Directive{DirKind::Ifndef, 1, "G_H"}, Directive{DirKind::Define, 2, "G_H"},
                  Directive{DirKind::Include, 3, "<vector>"}, Directive{DirKind::Error, 4, ""},
                  Directive{DirKind::Endif, 9, ""}};
  return f;
}

bool same_info(const FileInfo& a, const FileInfo& b) {
  if (a.guard != b.guard || a.directives.size() != b.directives.size()) return false;
  for (size_t i = 0; i < a.directives.size(); ++i) {
    auto& x = a.directives[i];
    auto& y = b.directives[i];
    if (x.kind != y.kind || x.line != y.line || x.text != y.text) return false;
  }
  return true;
}

// Sets an environment variable for one scope.
struct EnvVar {
  std::string name;
  std::optional<std::string> old;
  EnvVar(std::string n, const std::string& v) : name(std::move(n)) {
    if (const char* o = std::getenv(name.c_str())) old = o;
    ::setenv(name.c_str(), v.c_str(), 1);
  }
  ~EnvVar() {
    if (old) ::setenv(name.c_str(), old->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

}  // namespace

TEST_CASE("a file cache entry encodes and decodes, and any damage is a miss") {
  FileEntry e{"/usr/include/x.h", FileStamp{1, 2, 3, 4'000'000'005, -6}, sample_info()};
  std::string bytes = encode_file_entry(e);
  auto back = decode_file_entry(bytes);
  REQUIRE(back);
  CHECK(back->path == e.path);
  CHECK(back->stamp == e.stamp);
  CHECK(same_info(back->info, e.info));
  for (size_t n = 0; n < bytes.size(); ++n) {   // every truncation
    INFO("truncated to " << n);
    CHECK_FALSE(decode_file_entry(bytes.substr(0, n)));
  }
  for (size_t i = 0; i < bytes.size(); ++i) {   // every single flipped byte
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    INFO("byte " << i << " flipped");
    CHECK_FALSE(decode_file_entry(bad));
  }
  CHECK_FALSE(decode_file_entry(bytes + "x"));
}

TEST_CASE("a file cache entry is used only for the same path and every same stamp") {
  TempDir t("scancache");
  FileCache c((t.path / "cache").string());
  c.set_min_age_ns(0);
  FileStamp s{10, 20, 30, 1'000'000'000, 2'000'000'000};
  c.put("/p/x.h", s, sample_info());
  REQUIRE(c.writes() == 1);
  auto hit = c.get("/p/x.h", s);
  REQUIRE(hit);
  CHECK(same_info(*hit, sample_info()));
  CHECK_FALSE(c.get("/p/y.h", s));
  for (int field = 0; field < 5; ++field) {
    FileStamp other = s;
    if (field == 0) other.dev++;
    if (field == 1) other.ino++;
    if (field == 2) other.size++;
    if (field == 3) other.mtime_ns++;
    if (field == 4) other.ctime_ns++;
    INFO("stamp field " << field << " changed");
    CHECK_FALSE(c.get("/p/x.h", other));
  }
  CHECK(c.hits() == 1);
  // Private: a folder of mode 0700 and entries of mode 0600.
  CHECK((stat_of(t.path / "cache/files-1").st_mode & 0777) == 0700);
  CHECK((stat_of(c.entry_path("/p/x.h")).st_mode & 0777) == 0600);
}

TEST_CASE("a file changed less than two seconds ago is not remembered") {
  TempDir t("scancache");
  FileCache c((t.path / "cache").string());
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  int64_t now_ns = int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
  c.put("/p/new.h", FileStamp{1, 1, 1, now_ns - 500'000'000, now_ns - 10'000'000'000}, sample_info());
  c.put("/p/touched.h", FileStamp{1, 2, 1, now_ns - 10'000'000'000, now_ns}, sample_info());
  c.put("/p/future.h", FileStamp{1, 3, 1, now_ns + 60'000'000'000, now_ns - 10'000'000'000}, sample_info());
  CHECK(c.writes() == 0);
  CHECK_FALSE(fs::exists(c.entry_path("/p/new.h")));
  c.put("/p/old.h", FileStamp{1, 4, 1, now_ns - 10'000'000'000, now_ns - 10'000'000'000}, sample_info());
  CHECK(c.writes() == 1);
  CHECK(fs::exists(c.entry_path("/p/old.h")));

  // And through the scanner: headers just written are lexed, not remembered (an hour, not two
  // seconds: the test says the same on a slow machine).
  Project p;
  DiskFiles files(p.cache);
  files.cache()->set_min_age_ns(3'600'000'000'000);
  auto r = scan_includes(p.request(), files);
  REQUIRE(r.gave_up.empty());
  CHECK(files.cache()->writes() == 0);
  CHECK_FALSE(fs::exists(files.cache()->entry_path(p.root + "/src/a.h")));
}

TEST_CASE("a second scan is served from the file cache and finds the same files") {
  Project p;
  std::optional<DiskFiles> first, second, uncached;
  auto r0 = p.scan(uncached, "");
  auto r1 = p.scan(first, p.cache);
  REQUIRE(r1.gave_up.empty());
  CHECK(first->cache()->hits() == 0);
  CHECK(first->cache()->writes() == 6);   // a.c, a.h, once.h, b.h, one.h, same.h
  CHECK(first->bytes_read() > 0);
  auto r2 = p.scan(second, p.cache);
  REQUIRE(r2.gave_up.empty());
  CHECK(second->cache()->hits() == 6);
  CHECK(second->cache()->writes() == 0);
  CHECK(second->bytes_read() == 0);   // no header read
  CHECK(second->lexed() == 0);
  CHECK(second->from_cache() == 6);
  CHECK(first->lexed() == 6);
  CHECK(paths_of(r2) == paths_of(r1));
  CHECK(paths_of(r2) == paths_of(r0));
  CHECK(r2.maybe_branches == r1.maybe_branches);
}

TEST_CASE("the file cache gives the same answer as lexing on the C and C++ system headers") {
  TempDir t("scancache");
  std::string root = t.path.string();
  write_text(t.path / "x.cc", "#include <iostream>\n#include <vector>\n#include <map>\n#include <regex>\n#include <thread>\n");
  auto o = scan_options({"g++", "-std=c++17", "-O2", "-c", "x.cc"}, "x.cc");
  REQUIRE(o.unsupported.empty());
  auto facts = compiler_facts(o, root, "test", "");
  REQUIRE(facts.ok());
  auto req = scan_request(o, facts.value(), root);
  std::string cache = root + "/cache";
  DiskFiles plain, first(cache), second(cache);
  first.cache()->set_min_age_ns(0);
  auto r0 = scan_includes(req, plain);
  auto r1 = scan_includes(req, first);
  auto r2 = scan_includes(req, second);
  REQUIRE(r0.gave_up.empty());
  CHECK(r0.files.size() > 100);
  CHECK(paths_of(r1) == paths_of(r0));
  CHECK(paths_of(r2) == paths_of(r0));
  CHECK(r2.maybe_branches == r0.maybe_branches);
  CHECK(first.cache()->writes() > 100);
  CHECK(second.cache()->hits() == first.cache()->writes());
  CHECK(second.cache()->misses() == 0);
  CHECK(second.bytes_read() == 0);
}

TEST_CASE("an edited header is read again, not served from the file cache") {
  Project p;
  fs::path b = p.t.path / "inc/lib/b.h";
  set_mtime(b, 1'000'000'000);
  std::optional<DiskFiles> first, second;
  auto r1 = p.scan(first, p.cache);
  REQUIRE(r1.gave_up.empty());
  CHECK(count_of(r1, p.root + "/inc/lib/one.h") == 1);
  REQUIRE(fs::exists(first->cache()->entry_path(p.root + "/inc/lib/b.h")));
  // Same size, same inode, a new mtime (and ctime): it names the other header.
  auto before = stat_of(b);
  write_text(b, "#if ONCE\n#include \"two.h\"\n#endif\n");
  set_mtime(b, 1'000'000'001);
  auto after = stat_of(b);
  REQUIRE(after.st_ino == before.st_ino);
  REQUIRE(after.st_size == before.st_size);
  second.emplace(p.cache);
  second->cache()->set_min_age_ns(3'600'000'000'000);   // b.h, changed just now, is not remembered
  auto r2 = scan_includes(p.request(), *second);
  REQUIRE(r2.gave_up.empty());
  CHECK(count_of(r2, p.root + "/inc/lib/two.h") == 1);
  CHECK(count_of(r2, p.root + "/inc/lib/one.h") == 0);
  CHECK(second->cache()->hits() == 4);   // a.c, a.h, once.h, same.h; b.h read again, two.h new
  CHECK(second->cache()->writes() == 0);
}

TEST_CASE("a header another task generates again is read again, even with the same size and mtime") {
  Project p;
  fs::path b = p.t.path / "inc/lib/b.h";   // as a code generator's output
  set_mtime(b, 1'000'000'000);
  std::optional<DiskFiles> first, second;
  auto r1 = p.scan(first, p.cache);
  REQUIRE(fs::exists(first->cache()->entry_path(p.root + "/inc/lib/b.h")));
  auto before = stat_of(b);
  // The generator writes a temp file and renames it over the old one, keeping the mtime.
  fs::path tmp = p.t.path / "inc/lib/b.h.tmp";
  write_text(tmp, "#if ONCE\n#include \"two.h\"\n#endif\n");
  set_mtime(tmp, 1'000'000'000);
  fs::rename(tmp, b);
  auto after = stat_of(b);
  REQUIRE(after.st_size == before.st_size);
  REQUIRE(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  second.emplace(p.cache);
  auto r2 = scan_includes(p.request(), *second);
  REQUIRE(r2.gave_up.empty());
  CHECK(count_of(r2, p.root + "/inc/lib/two.h") == 1);
  CHECK(count_of(r2, p.root + "/inc/lib/one.h") == 0);
}

TEST_CASE("a corrupted, truncated or foreign file cache entry is a miss, then rewritten") {
  Project p;
  std::optional<DiskFiles> first;
  auto r1 = p.scan(first, p.cache);
  REQUIRE(first->cache()->writes() == 6);
  std::string a_h = first->cache()->entry_path(p.root + "/src/a.h");
  std::string b_h = first->cache()->entry_path(p.root + "/inc/lib/b.h");
  std::string once_h = first->cache()->entry_path(p.root + "/src/once.h");
  std::string same_h = first->cache()->entry_path(p.root + "/src/same.h");
  auto text = read_file(a_h);
  REQUIRE(text.ok());
  write_text(a_h, text.value().substr(0, text.value().size() / 2));   // truncated
  std::string flipped = read_file(b_h).value();
  flipped[flipped.size() / 2] ^= 1;
  write_text(b_h, flipped);                                           // one bit changed
  ::chmod(once_h.c_str(), 0644 | 002);                         // writable by others: not trusted
  fs::remove(same_h);
  fs::create_symlink(a_h + ".elsewhere", same_h);              // a link: not followed
  write_text(a_h + ".elsewhere", text.value());
  std::optional<DiskFiles> second;
  auto r2 = p.scan(second, p.cache);
  REQUIRE(r2.gave_up.empty());
  CHECK(paths_of(r2) == paths_of(r1));
  CHECK(second->cache()->hits() == 2);     // a.c and one.h only
  CHECK(second->cache()->misses() == 4);
  CHECK(second->cache()->writes() == 4);   // each rewritten
  CHECK(decode_file_entry(read_file(a_h).value()));
  CHECK(decode_file_entry(read_file(b_h).value()));
  CHECK(!fs::is_symlink(same_h));
  std::optional<DiskFiles> third;
  auto r3 = p.scan(third, p.cache);
  CHECK(paths_of(r3) == paths_of(r1));
  CHECK(third->cache()->hits() == 6);
}

TEST_CASE("a cache folder others may write is not used") {
  Project p;
  fs::create_directories(p.cache + "/files-1");
  ::chmod((p.cache + "/files-1").c_str(), 0777);
  std::optional<DiskFiles> first;
  auto r = p.scan(first, p.cache);
  REQUIRE(r.gave_up.empty());
  CHECK(first->cache()->writes() == 0);
  CHECK(fs::is_empty(p.cache + "/files-1"));
}

TEST_CASE("ZBUILD_SCAN_CACHE moves the file cache, and off disables it") {
  Project p;
  {
    EnvVar v("ZBUILD_SCAN_CACHE", "off");
    CHECK(facts_cache_dir().empty());
    DiskFiles files(facts_cache_dir());
    CHECK(files.cache() == nullptr);
    auto r = scan_includes(p.request(), files);
    REQUIRE(r.gave_up.empty());
    CHECK(files.bytes_read() > 0);
  }
  {
    EnvVar v("ZBUILD_SCAN_CACHE", p.cache);
    std::optional<DiskFiles> first, second;
    p.scan(first, facts_cache_dir());
    CHECK(first->cache()->writes() == 6);
    CHECK(fs::exists(p.cache + "/files-1"));
    p.scan(second, facts_cache_dir());
    CHECK(second->cache()->hits() == 6);
    CHECK(second->bytes_read() == 0);
  }
}

namespace {

// A cache entry for a made-up header `path` (put() does not look at the file).
void put_entry(FileCache& c, const std::string& path, size_t text_bytes) {
  FileInfo info;
  auto text = std::make_shared<const std::string>(text_bytes, 'x');
  info.directives.push_back(Directive{DirKind::Define, 1, *text});
  info.storage = text;
  c.put(path, FileStamp{1, 2, 3, 4, 5}, info);
}

// A made-up header path whose entry name starts with "00" (or not): trim() runs on its write.
std::string path_whose_entry_starts_00(const FileCache& c, bool want) {
  for (int k = 0;; ++k) {
    std::string p = "/made/up/header-" + std::to_string(k) + ".h";
    std::string name = fs::path(c.entry_path(p)).filename().string();
    if ((name.compare(0, 2, "00") == 0) == want) return p;
  }
}

// What the cache's entries take on disk (its temp files not counted, as trim() counts).
uint64_t entry_bytes(const fs::path& dir) {
  uint64_t total = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp.") == std::string::npos) {
      total += static_cast<uint64_t>(stat_of(e.path()).st_blocks) * 512;
    }
  }
  return total;
}

}  // namespace

TEST_CASE("the lexed-header cache stays under its size: the entries used longest ago go first") {
  TempDir t{"scantrim"};
  FileCache c((t.path / "cache").string());
  c.set_min_age_ns(0);
  std::vector<std::string> paths;   // 20 entries, none of whose writes trims
  for (int k = 0; paths.size() < 20; ++k) {
    std::string p = path_whose_entry_starts_00(c, false) + "-" + std::to_string(k);
    if (fs::path(c.entry_path(p)).filename().string().compare(0, 2, "00") == 0) continue;
    put_entry(c, p, 6000);
    set_mtime(c.entry_path(p), 1'000'000 + static_cast<time_t>(paths.size()));   // the first is the oldest
    paths.push_back(p);
  }
  fs::path dir = fs::path(c.entry_path(paths[0])).parent_path();
  const uint64_t full = entry_bytes(dir);
  const uint64_t one = static_cast<uint64_t>(stat_of(c.entry_path(paths[0])).st_blocks) * 512;
  REQUIRE(full == 20 * one);
  const uint64_t max = full / 2;
  c.set_max_bytes(max);
  // A writer's temp file an hour old goes; a fresh one stays.
  write_text(dir / "ab.tmp.1.0", "x");
  set_mtime(dir / "ab.tmp.1.0", 1'000'000);
  write_text(dir / "cd.tmp.2.0", "x");

  size_t removed = c.trim();
  const size_t kept = 20 - removed;
  CHECK(entry_bytes(dir) <= max / 4 * 3);          // down to three quarters
  CHECK(entry_bytes(dir) + one > max / 4 * 3);     // and no further
  for (size_t k = 0; k < 20; ++k) {
    INFO(k);
    CHECK(fs::exists(c.entry_path(paths[k])) == (k >= 20 - kept));   // the oldest went
  }
  CHECK_FALSE(fs::exists(dir / "ab.tmp.1.0"));
  CHECK(fs::exists(dir / "cd.tmp.2.0"));
  CHECK(c.trim() == 0);   // under the maximum now

  // Over it again: the write of a path whose entry starts with "00" trims.
  for (int k = 0; k < 20; ++k) {
    std::string p = "/more/" + std::to_string(k) + ".h";
    put_entry(c, p, 6000);
    set_mtime(c.entry_path(p), 1'000'000);
  }
  REQUIRE(entry_bytes(dir) > max);
  put_entry(c, path_whose_entry_starts_00(c, true), 6000);
  CHECK(entry_bytes(dir) <= max / 4 * 3);
}

TEST_CASE("a hit on an entry unused for a day marks it used") {
  Project p;
  std::optional<DiskFiles> first;
  p.scan(first, p.cache);
  std::string a_h = first->cache()->entry_path(p.root + "/src/a.h");
  std::string b_h = first->cache()->entry_path(p.root + "/inc/lib/b.h");
  set_mtime(a_h, ::time(nullptr) - 2 * 86400);   // unused for two days
  set_mtime(b_h, ::time(nullptr) - 3600);        // used an hour ago: left as it is
  std::optional<DiskFiles> second;
  p.scan(second, p.cache);
  REQUIRE(second->cache()->hits() == 6);
  CHECK(stat_of(a_h).st_mtime >= ::time(nullptr) - 60);
  CHECK(stat_of(b_h).st_mtime <= ::time(nullptr) - 3600);
}

// One process's scan with the pack of `key` read first and written after, as zbuild-cc does.
static ScanResult packed_scan(const Project& p, std::optional<DiskFiles>& files, const std::string& key) {
  files.emplace(p.cache);
  files->cache()->set_min_age_ns(0);
  files->cache()->use_pack(key);
  auto r = scan_includes(p.request(), *files);
  files->cache()->save_pack();
  return r;
}

TEST_CASE("a pack serves a later process every header in one file, and an edited header is read again") {
  Project p;
  std::optional<DiskFiles> first, second, third, plain;
  auto r0 = p.scan(plain, "");
  auto r1 = packed_scan(p, first, "k");
  REQUIRE(r1.gave_up.empty());
  CHECK(first->cache()->pack_hits() == 0);
  std::string pack = first->cache()->pack_path("k");
  REQUIRE(fs::exists(pack));
  CHECK((stat_of(pack).st_mode & 0777) == 0600);
  // The entries' own files gone: the pack alone serves all six.
  for (auto& e : fs::directory_iterator(p.cache + "/files-1")) {
    if (e.path().filename().string().rfind("pack-", 0) != 0) fs::remove(e.path());
  }
  auto written = stat_of(pack);
  auto r2 = packed_scan(p, second, "k");
  CHECK(second->cache()->pack_hits() == 6);
  CHECK(second->cache()->hits() == 6);
  CHECK(second->lexed() == 0);
  CHECK(paths_of(r2) == paths_of(r0));
  // Nothing new: the pack is not written again (a rewrite is a new file: temp + rename).
  CHECK(stat_of(pack).st_ino == written.st_ino);
  // An edit of b.h (same size, new mtime): read again, the other header found, the pack rewritten.
  fs::path b = p.t.path / "inc/lib/b.h";
  write_text(b, "#if ONCE\n#include \"two.h\"\n#endif\n");
  set_mtime(b, 1'000'000'001);
  auto r3 = packed_scan(p, third, "k");
  CHECK(count_of(r3, p.root + "/inc/lib/two.h") == 1);
  CHECK(count_of(r3, p.root + "/inc/lib/one.h") == 0);
  CHECK(third->lexed() == 2);   // b.h and two.h
  CHECK(third->cache()->pack_hits() == 4);
  CHECK(stat_of(pack).st_ino != written.st_ino);
  std::optional<DiskFiles> fourth;
  auto r4 = packed_scan(p, fourth, "k");
  CHECK(fourth->cache()->pack_hits() == 6);
  CHECK(paths_of(r4) == paths_of(r3));
  // Another key has its own pack.
  std::optional<DiskFiles> other;
  packed_scan(p, other, "other key");
  CHECK(other->cache()->pack_hits() == 0);
  CHECK(other->cache()->hits() == 2);   // b.h and two.h, lexed again above; the others' files were removed
  CHECK(fs::exists(other->cache()->pack_path("other key")));
}

TEST_CASE("a damaged, truncated, foreign or linked pack is not used, and is written again") {
  Project p;
  std::optional<DiskFiles> first;
  auto r1 = packed_scan(p, first, "k");
  std::string pack = first->cache()->pack_path("k");
  std::string good = read_file(pack).value();
  auto served_from_pack = [&](const std::string& bytes) {
    {
      std::ofstream out(pack, std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    ::chmod(pack.c_str(), 0600);
    std::optional<DiskFiles> f;
    auto r = packed_scan(p, f, "k");
    CHECK(paths_of(r) == paths_of(r1));   // the same answer either way
    CHECK(f->cache()->hits() == 6);       // from the entries' own files when not from the pack
    return f->cache()->pack_hits();
  };
  CHECK(served_from_pack(good) == 6);
  CHECK(served_from_pack(good.substr(0, good.size() - 1)) == 0);
  CHECK(read_file(pack).value() == good);   // rewritten whole by the process that could not use it
  CHECK(served_from_pack(good + "x") == 0);
  CHECK(served_from_pack("") == 0);
  std::string flipped = good;
  flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x20);
  CHECK(served_from_pack(flipped) < 6);     // the entry it lands in fails its checksum
  std::string bad_magic = good;
  bad_magic[0] = 'Z';
  CHECK(served_from_pack(bad_magic) == 0);
  // A pack others may write is not read.
  REQUIRE(::chmod(pack.c_str(), 0622) == 0);
  std::optional<DiskFiles> f;
  f.emplace(p.cache);
  f->cache()->use_pack("k");
  scan_includes(p.request(), *f);
  CHECK(f->cache()->pack_hits() == 0);
  // Nor one that is a link.
  fs::remove(pack);
  fs::create_symlink(first->cache()->entry_path(p.root + "/src/a.h"), pack);
  std::optional<DiskFiles> g;
  g.emplace(p.cache);
  g->cache()->use_pack("k");
  scan_includes(p.request(), *g);
  CHECK(g->cache()->pack_hits() == 0);
}

// Scans with the request's bracket chain `inc0` (before `inc`), through a pack and its listings.
static ScanResult listed_scan(const Project& p, std::optional<DiskFiles>& files, bool any_age = true) {
  files.emplace(p.cache);
  if (any_age) files->cache()->set_min_age_ns(0);
  files->cache()->use_pack("k");
  ScanRequest req = p.request();
  req.paths.bracket = {p.root + "/inc0", p.root + "/inc"};
  req.paths.bracket_system = {false, false};
  auto r = scan_includes(req, *files);
  files->cache()->save_pack();
  return r;
}

TEST_CASE("folder listings answer names that are not there, and a header added in an earlier folder is found") {
  Project p;
  write_text(p.t.path / "inc0/other.h", "\n");
  set_mtime(p.t.path / "inc0", 1'000'000'000);   // its ctime is now: a new name changes the mtime
  std::optional<DiskFiles> plain, first, second, third, fourth;
  auto r1 = listed_scan(p, first);
  REQUIRE(r1.gave_up.empty());
  CHECK(count_of(r1, p.root + "/inc/lib/b.h") == 1);
  CHECK(first->cache()->listed() > 0);
  std::string dirs = first->cache()->listings_path("k");
  REQUIRE(fs::exists(dirs));
  CHECK((stat_of(dirs).st_mode & 0777) == 0600);
  // The next process reads the listings: no folder read again, the same files found.
  auto r2 = listed_scan(p, second);
  CHECK(second->cache()->listed() == 0);
  CHECK(paths_of(r2) == paths_of(r1));
  // lib/b.h made in inc0: inc0's listing no longer holds (its mtime changed), b.h is found there.
  write_text(p.t.path / "inc0/lib/b.h", "#include \"two.h\"\n");
  write_text(p.t.path / "inc0/lib/two.h", "\n");
  auto r3 = listed_scan(p, third);
  CHECK(count_of(r3, p.root + "/inc0/lib/b.h") == 1);
  CHECK(count_of(r3, p.root + "/inc0/lib/two.h") == 1);
  CHECK(count_of(r3, p.root + "/inc/lib/b.h") == 0);
  CHECK(third->cache()->listed() > 0);
  ScanRequest req = p.request();
  req.paths.bracket = {p.root + "/inc0", p.root + "/inc"};
  req.paths.bracket_system = {false, false};
  plain.emplace("");
  CHECK(paths_of(r3) == paths_of(scan_includes(req, *plain)));
  // Folders changed less than two seconds ago are not listed at all.
  auto r4 = listed_scan(p, fourth, false);
  CHECK(fourth->cache()->listed() == 0);
  CHECK(paths_of(r4) == paths_of(r3));
}

TEST_CASE("a quoted name going up a folder (\"../x.h\") is found through the folder listings") {
  Project p;
  // yaml-cpp's contrib/anchordict.h includes "../anchor.h": the folder "lib/sub/.." is not a
  // name in lib/sub's listing, and must not be taken for one that is missing.
  write_text(p.t.path / "inc/lib/sub/c.h", "#include \"../two.h\"\n#include \"./d.h\"\n");
  write_text(p.t.path / "inc/lib/sub/d.h", "\n");
  write_text(p.t.path / "src/a.c", "#include <lib/sub/c.h>\n");
  for (int round = 0; round < 2; ++round) {   // listings made, then read from the file
    std::optional<DiskFiles> files;
    auto r = listed_scan(p, files);
    INFO(r.gave_up);
    REQUIRE(r.gave_up.empty());
    CHECK(count_of(r, p.root + "/inc/lib/sub/../two.h") == 1);
    CHECK(count_of(r, p.root + "/inc/lib/sub/./d.h") == 1);
  }
}

TEST_CASE("a damaged, truncated or foreign listings file is not used") {
  Project p;
  std::optional<DiskFiles> first;
  auto r1 = listed_scan(p, first);
  std::string dirs = first->cache()->listings_path("k");
  std::string good = read_file(dirs).value();
  auto folders_read = [&](const std::string& bytes) {
    {
      std::ofstream out(dirs, std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    ::chmod(dirs.c_str(), 0600);
    std::optional<DiskFiles> f;
    auto r = listed_scan(p, f);
    CHECK(paths_of(r) == paths_of(r1));   // the same answer either way
    return f->cache()->listed();
  };
  CHECK(folders_read(good) == 0);
  CHECK(folders_read(good.substr(0, good.size() - 1)) > 0);
  CHECK(folders_read(good + "x") > 0);
  std::string flipped = good;
  flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x20);
  CHECK(folders_read(flipped) > 0);
  CHECK(folders_read("") > 0);
  // One others may write is not read.
  REQUIRE(::chmod(dirs.c_str(), 0622) == 0);
  std::optional<DiskFiles> f;
  f.emplace(p.cache);
  f->cache()->set_min_age_ns(0);
  f->cache()->use_pack("k");
  scan_includes(p.request(), *f);
  CHECK(f->cache()->listed() > 0);
}
