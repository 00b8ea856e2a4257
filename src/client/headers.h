// Header discovery for C and C++ compiles: the compiler's own -M the first time, then a
// manifest kept in the daemon's store (as ccache's direct mode does) so an unchanged
// translation unit is not rescanned.
//
// Manifest format, version 2 (text; value of store meta key "man:<key>"): the header sets the
// translation unit was seen with, newest first, at most kManifestSets (as ccache's manifests
// keep several results), so switching a header back and forth finds each version again:
//   zbuild-manifest 2
//   S                                           a set begins
//   R <digest> <path relative to the root>      a file under the root
//   H <digest> <absolute path>                  a file outside it (system header, compiler)
//   G <path relative to the root>               a file another task generates
// A set is valid when every R and H file still has its digest. Version 1 (no S lines, one
// set) is still read.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/result.h"

namespace zbuild::client {

// True for a command line this module can scan: a C/C++ compiler driver with -c.
bool is_scannable_compile(const std::vector<std::string>& argv);

// The scan command derived from a compile: output and depfile options removed, -M added, and
// -MG (a missing header is one another task generates) unless told otherwise.
std::vector<std::string> scan_argv(const std::vector<std::string>& argv, bool missing_as_generated = true);

// The compile the client may run here to scan headers, checked: response files expanded (read
// relative to `cwd`, an absolute folder), then options that make the compiler run another
// program or load code (-wrapper, -B, -fplugin, -specs, ...: cmd::check_compiler_options)
// refused with an error naming the option. Empty when `argv` is not a scannable compile.
// The scan runs the expanded command, so what was checked is what runs.
Result<std::vector<std::string>> checked_scan_compile(const std::vector<std::string>& argv, const std::string& cwd);

// The whole environment of a scan: the task's own (allow-listed and checked) variables and a
// fixed PATH. Nothing of the client's environment or of the loader's reaches it.
Result<std::vector<std::string>> scan_environment(const std::vector<std::string>& task_env);

// Thread-safe memo of file digests for one client run.
class DigestMemo {
 public:
  Result<Digest> get(const std::filesystem::path& p);

 private:
  std::mutex mu_;
  std::map<std::string, Result<Digest>> memo_;
};

struct HeaderEntry {
  char kind;          // 'R', 'H' or 'G'
  std::string path;
  Digest digest;
  bool operator==(const HeaderEntry&) const = default;
};

using HeaderSet = std::vector<HeaderEntry>;
constexpr size_t kManifestSets = 8;

std::string encode_manifest(const std::vector<HeaderSet>& sets);
Result<std::vector<HeaderSet>> decode_manifest(const std::string& text);
// `fresh` first, then the `known` sets that differ from it, at most kManifestSets in all.
std::vector<HeaderSet> add_header_set(HeaderSet fresh, const std::vector<HeaderSet>& known);

}  // namespace zbuild::client
