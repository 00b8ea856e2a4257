// The include scanner: which files a C or C++ compile reads, found in-process without running
// the preprocessor (issue 11: no local preprocessing on a cold build).
//
// It follows #include, #include_next and #import the way gcc searches (the including file's
// folder for "..." then the quote chain, then the bracket chain; #include_next from the folder
// after the one the current file was found in), honours #pragma once and include guards, and
// evaluates #if conditions over the compiler's predefined macros, the command's -D/-U and the
// #defines it meets, in three values (scan/macros.h). Where it cannot decide a condition it
// takes both branches, so the files it names are a superset of those the compiler opens — a
// key built from them is never too small. What it cannot follow at all (a computed #include it
// cannot expand, an #error or a missing header on a path that is surely taken, nesting beyond
// 200) makes it give up and say why: the caller then asks the compiler (gcc -M).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scan/directives.h"

namespace zbuild::scan {

// The search chains, as the compiler reports them (scan/compiler_facts.h).
struct SearchPath {
  std::vector<std::string> quote;     // -iquote folders
  std::vector<std::string> bracket;   // -I, -isystem, the compiler's own, -idirafter, in order
  std::vector<bool> bracket_system;   // per bracket folder: a system folder (left out by -MM)
};

// A file's version as stat(2) tells it: what decides whether a cached lexing still holds.
struct FileStamp {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

// A file's directives and include guard, read once per scan process. The directives' texts are
// views into `storage` (the lexer's store, or the scanner cache's pack or entry as read), which
// copies of the FileInfo share; a FileInfo made by hand may view literals and hold none.
struct FileInfo {
  std::vector<Directive> directives;
  std::string guard;   // the include guard when the whole file is #ifndef G ... #endif
  std::shared_ptr<const void> storage;
};

// The scanner's view of the file system (an interface so tests and callers may supply files).
class FileSource {
 public:
  virtual ~FileSource() = default;
  struct Id {
    uint64_t dev = 0, ino = 0;
    auto operator<=>(const Id&) const = default;
  };
  // A regular file at `path` (absolute), else nullopt.
  virtual std::optional<Id> find(const std::string& path) = 0;
  // Its directives; nullptr when it cannot be read.
  virtual std::shared_ptr<const FileInfo> load(const std::string& path, Id id) = 0;
};

class FileCache;

// The real file system, remembering what it looked up and read (one instance per process).
// With a cache folder (facts_cache_dir()), what it lexes is kept there for the next process
// and what is kept there is not read again while the file is unchanged (scan/file_cache.h).
class DiskFiles : public FileSource {
 public:
  DiskFiles();
  explicit DiskFiles(const std::string& cache_dir);   // empty: no cache
  ~DiskFiles() override;
  DiskFiles(const DiskFiles&) = delete;
  DiskFiles& operator=(const DiskFiles&) = delete;

  std::optional<Id> find(const std::string& path) override;
  std::shared_ptr<const FileInfo> load(const std::string& path, Id id) override;
  // What find() saw of `path` (absolute, as the scanner named it) when it found a regular file.
  std::optional<FileStamp> stamp(const std::string& path) const;
  uint64_t bytes_read() const { return bytes_; }   // of files lexed (not those the cache served)
  uint64_t lexed() const { return lexed_; }        // files read and lexed
  uint64_t from_cache() const;                     // files the cache served
  FileCache* cache() { return cache_.get(); }      // nullptr: none

 private:
  struct Found {
    Id id;
    FileStamp stamp;
  };
  // A folder headers are looked for in, opened once (O_PATH) so that each header's stat walks
  // one name, not the whole path: kMissing when it is not a folder, kNoFd when it is but no
  // descriptor is held (more than kMaxFolderFds folders).
  static constexpr int kMissing = -1, kNoFd = -2;
  static constexpr size_t kMaxFolderFds = 256;
  int folder_fd(std::string_view dir);
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::unordered_map<std::string, std::optional<Found>> found_;
  std::unordered_map<std::string, int, NameHash, std::equal_to<>> folders_;
  size_t folder_fds_ = 0;
  std::map<Id, std::shared_ptr<const FileInfo>> loaded_;
  std::unique_ptr<FileCache> cache_;
  uint64_t bytes_ = 0, lexed_ = 0;
};

// The directives of `text` and its include guard.
FileInfo file_info(std::string_view text);

struct ScanRequest {
  std::string cwd;                  // absolute
  std::string source;               // as the command names it
  bool cplusplus = false;
  SearchPath paths;
  std::vector<std::string> predefined;                      // #define texts ("NAME BODY") from the compiler
  std::shared_ptr<const class MacroTable> predefined_table; // the same, already read (then `predefined` is ignored)
  std::vector<std::pair<char, std::string>> command_macros;   // ('D', "X=1") / ('U', "X"), in order
  std::vector<std::string> forced_includes;                 // -include FILE, in order
  std::vector<std::string> preincluded;                     // read first, as system files (absolute)
};

struct ScannedFile {
  std::string path;    // as the compiler names it in a depfile ("src/a.h", "/usr/include/stdio.h")
  bool system = false; // found in a system folder or included from a system file (-MM leaves it out)
};

struct ScanResult {
  std::vector<ScannedFile> files;   // the source first, then in the order first met
  std::string gave_up;              // non-empty: the scan could not follow the compile, and why
  size_t maybe_branches = 0;        // conditions it could not decide (both branches taken)
};

ScanResult scan_includes(const ScanRequest& req, FileSource& files);

}  // namespace zbuild::scan
