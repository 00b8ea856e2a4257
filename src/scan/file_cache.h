// The scanner's per-user cache of what it learnt from a header: its directives and include
// guard (scan/include_scan.h's FileInfo), so the next process — zbuild-cc runs once per compile
// — does not read and lex the same unchanged libstdc++ headers again. An entry is used only
// while the file's device, inode, size, mtime and ctime (nanoseconds) are those it was lexed
// at; a file whose mtime or ctime is less than two seconds old is lexed but not remembered (a
// write within one timestamp tick could otherwise hide behind the entry, as in git and ccache).
//
// One file per header: <scan cache>/files-1/<32 hex digits: XXH3-128 of the header's path>,
// written atomically (temp file + rename), mode 0600, in a folder of mode 0700 that must be the
// user's own and writable by nobody else (else the cache is off). The folder is kept under
// kMaxBytes: a write whose entry's name starts with "00" (one path in 256, whichever process
// writes it) looks at the whole folder and, when it holds more, removes the entries used
// longest ago until it holds three quarters (an entry's mtime is its last use: a hit on an
// entry older than a day sets it to now), and temp files an hour old. Read as untrusted bytes:
// opened with O_NOFOLLOW, a regular file of the user's, every length checked; anything that
// does not read as an entry for this path and these stamps is a miss, and is rewritten.
//
// Entry format, version 1 (binary, integers little-endian):
//   8 bytes  "zbscanf\n"                 magic
//   u32      1                           version
//   u32      0                           flags (none yet)
//   u64 dev, u64 ino, u64 size, i64 mtime_ns, i64 ctime_ns      the header's stat stamps
//   u32 n, n bytes                       the header's path (as the scanner opened it)
//   u32 n, n bytes                       its include guard ("" when none)
//   u32 count, then count times:         its directives, in order
//     u8 kind (DirKind), u32 line, u32 n, n bytes of text
//   u64 hi, u64 lo                       XXH3-128 of every byte before
//
// Packs. A compile reads about a hundred headers, and opening a hundred entry files cost more
// than lexing saves. So a process also reads and writes one pack: <files-1>/pack-<32 hex digits:
// XXH3-128 of the pack key> — the key is the compiler, its search chains and the source's folder,
// what decides which headers a compile reads. It holds the entries that processes of the same
// key used, so the next one reads one file. An entry in a pack is used exactly as one in its own
// file (the same checks: its checksum, its path, every stamp); one that does not match is looked
// for in its own file. A process that used entries its pack lacked (or held stale), at least an
// eighth of what it used, writes the pack again (temp file + rename): those entries, then the
// pack's others while it stays under kMaxPackBytes (those this process used first). Packs are
// trimmed with the entries.
//
// Pack format, version 1 (binary, little-endian):
//   8 bytes  "zbscanp\n"                 magic
//   u32      1                           version
//   u32 count, then count times:         u32 n, n bytes: an entry in the format above
//
// Folder listings. A header is looked for in each folder of its search chain in turn: <errno.h>
// in eight folders before /usr/include has it, <bits/x.h> in every -I folder that has no bits/.
// Those misses were ~300 stats and ~60 opens a compile. So beside its pack a process keeps the
// names in the folders it searched: <files-1>/dirs-<the pack's 32 hex digits>. A listing is
// used only while its folder's device, inode, size, mtime and ctime are those it was read at
// (one fstat a folder a process): adding, removing or renaming a name in a folder changes its
// mtime and ctime. A folder younger than the minimum age is not listed (a change within the
// same timestamp tick could hide, as for entries), nor one whose stamps changed while it was
// read. A listing only ever answers "not there": a name it has is looked at as before. The
// process that listed folders the file lacked (or held stale) writes the file again (temp file
// + rename): every listing it used, then the file's others while under kMaxListingsBytes.
//
// Listings format, version 1 (binary, little-endian):
//   8 bytes  "zbscand\n"                 magic
//   u32      1                           version
//   u32 count, then count times:         a folder
//     u32 n, n bytes                     its path (as the scanner names it)
//     u64 dev, u64 ino, u64 size, i64 mtime_ns, i64 ctime_ns     its stat stamps
//     u32 names, then names times:       u32 n, n bytes: a name in it ("." and ".." left out),
//                                        in strictly ascending byte order
//   u64 hi, u64 lo                       XXH3-128 of every byte before
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "scan/include_scan.h"

namespace zbuild::scan {

// What a cache file holds.
struct FileEntry {
  std::string path;
  FileStamp stamp;
  FileInfo info;
};

std::string encode_file_entry(const FileEntry& e);
FileStamp stamp_of(const struct stat& st);
// nullopt: not an entry of this format (wrong magic or version, a length past the end, an
// unknown kind, trailing bytes, a wrong checksum). The directives' texts view `bytes`, which
// `keep` holds (it becomes the entry's info.storage); without `keep`, a copy of `bytes` is made.
std::optional<FileEntry> decode_file_entry(std::string_view bytes, std::shared_ptr<const void> keep = nullptr);

class FileCache {
 public:
  // `dir`: the scanner's cache folder (facts_cache_dir()); the entries go in dir/files-1.
  explicit FileCache(const std::string& dir);

  // The directives of `path` when an entry for exactly this stamp is there; else nullptr.
  std::shared_ptr<const FileInfo> get(const std::string& path, const FileStamp& stamp);
  // Remembers what `path` held at `stamp` (skipped while the file is younger than the minimum
  // age). Failures are ignored: the cache is only an accelerator.
  void put(const std::string& path, const FileStamp& stamp, const FileInfo& info);

  // Reads the pack for `key` (see above); get() looks there first. Once per process.
  void use_pack(const std::string& key);
  // Writes the pack when this process used entries it lacked; else nothing.
  void save_pack();
  std::string pack_path(const std::string& key) const;
  static constexpr uint64_t kMaxPackBytes = 4ull << 20;
  uint64_t pack_hits() const { return pack_hits_; }

  // Folder listings (see above), read by use_pack() and written by save_pack(): true when
  // `name` (one path component) is certainly not in folder `dir`, whose descriptor (O_PATH is
  // enough) is `fd`; false: look.
  bool absent(const std::string& dir, int fd, std::string_view name);
  std::string listings_path(const std::string& key) const;
  static constexpr uint64_t kMaxListingsBytes = 4ull << 20;
  static constexpr uint32_t kMaxListedNames = 1u << 16;   // a larger folder is not listed
  uint64_t listed() const { return listed_; }             // folders this process read

  // Files younger than this are not remembered (tests set 0).
  void set_min_age_ns(int64_t ns) { min_age_ns_ = ns; }
  static constexpr uint64_t kMaxBytes = 256ull << 20;
  void set_max_bytes(uint64_t b) { max_bytes_ = b; }   // tests
  // Removes the entries used longest ago while the folder holds more than the maximum, down to
  // three quarters of it, and temp files an hour old. Returns the entries removed.
  size_t trim();
  std::string entry_path(const std::string& path) const;   // where `path`'s entry lives

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t writes() const { return writes_; }

 private:
  bool usable();   // the folder exists (or was made), is a folder of ours, private

  std::string dir_;
  int state_ = 0;   // 0: folder not checked yet, 1: usable, -1: off
  int64_t min_age_ns_ = 2'000'000'000;
  uint64_t max_bytes_ = kMaxBytes;
  uint64_t hits_ = 0, misses_ = 0, writes_ = 0, tmp_seq_ = 0, pack_hits_ = 0;
  bool write_atomic(const std::string& final_path, const std::string& bytes);

  std::string pack_file_;                                      // empty: no pack in use
  std::shared_ptr<const void> pack_bytes_;                     // the pack as mapped (entries served from it view it)
  std::unordered_map<std::string_view, std::string_view> pack_;   // path -> its entry (both in pack_bytes_)
  std::unordered_set<std::string_view> pack_used_;                  // paths the pack served (pack_'s keys)
  std::map<std::string, std::shared_ptr<const std::string>, std::less<>> fresh_;   // entries used that the pack lacked (by path)

  struct Listing {
    FileStamp stamp;
    std::vector<std::string_view> names;   // sorted; view listings_bytes_ or `own`
    std::shared_ptr<const std::string> own;   // the names of a folder this process read
    int state = 0;                         // 0: read from the file, not yet checked; 1: usable; -1: not
    bool used = false;
  };
  void use_listings(const std::string& key);
  void save_listings();
  Listing list_folder(int fd);
  std::string listings_file_;                              // empty: none in use
  std::shared_ptr<const void> listings_bytes_;
  std::unordered_map<std::string, Listing> listings_;      // by folder
  uint64_t listed_ = 0;
};

}  // namespace zbuild::scan
