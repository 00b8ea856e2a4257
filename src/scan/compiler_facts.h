// What the include scanner must ask the compiler, once per compiler and set of options: its
// search chains (`-v`) and predefined macros (`-dM`), from `CC <options> -E -dM -v -x LANG
// /dev/null`, and the files it reads before any source (`CC <options> -M -x LANG /dev/null`). The answer is kept per user, keyed by the compiler's digest, the options and
// the working directory, so a build asks once per distinct flag set, not once per compile.
//
// Cache file format, version 1 (text; <user cache>/scan-1/<key>, written atomically):
//   zbuild-scan-facts 1
//   Q <folder>        the "..." chain, in order
//   B <folder>        the <...> chain, in order
//   S <folder>        the same, a system folder
//   P <path>          a file the compiler reads before the source (gcc's stdc-predef.h)
//   D <name> <body>   a predefined macro (#define's text)
// A file that does not read as this is a miss.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "scan/include_scan.h"
#include "scan/macros.h"

namespace zbuild::scan {

// A compile's options as the scanner needs them.
struct ScanOptions {
  std::string source;                    // the one source, as the command names it
  bool cplusplus = false;                // compiled as C++ (-x, the name, or a C++ driver on a .c)
  std::vector<std::string> probe_argv;   // the compiler and the options that decide its chains and macros
  std::vector<std::pair<char, std::string>> command_macros;   // -D / -U, in order
  std::vector<std::string> forced_includes;                   // -include
  std::vector<std::string> user_dirs;    // -I folders (not system), as given
  std::string unsupported;               // non-empty: an option the scanner does not follow
};

// `argv[0]` is the compiler, response files already expanded. `source`: the one source when
// the caller knows it, else the one argument that is not an option nor an option's value.
ScanOptions scan_options(const std::vector<std::string>& argv, const std::string& source = "");

struct CompilerFacts {
  SearchPath paths;
  std::vector<std::string> predefined;
  std::vector<std::string> preincluded;   // absolute
  std::shared_ptr<const MacroTable> table;   // `predefined` read (compiler_facts() fills it)
};

// From the probes' output: stdout of -dM, stderr of -v, stdout of -M. `user_dirs` (absolute,
// normalised) are the bracket folders that are not system folders.
Result<CompilerFacts> parse_compiler_facts(const std::string& dm, const std::string& v, const std::string& m,
                                           const std::string& cwd, const std::vector<std::string>& user_dirs);

std::string encode_facts(const CompilerFacts& f);
Result<CompilerFacts> decode_facts(const std::string& text);

// Asks the compiler (or the cache; or this process's memory: a graph asks once per flag set). `compiler_id` identifies the compiler's contents (its
// digest); `cache_dir` empty: no cache. `env` non-empty: the probes' whole environment (part of
// the key), else they inherit this process's.
Result<CompilerFacts> compiler_facts(const ScanOptions& o, const std::string& cwd, const std::string& compiler_id,
                                     const std::string& cache_dir, const std::vector<std::string>& env = {});

// The switches every user of the scanner honours: ZBUILD_SCAN=compiler (always the compiler's
// -M), and ZBUILD_SCAN_CACHE=DIR|off (the facts cache; default <user cache>/scan-1).
bool builtin_scan_enabled();
std::string facts_cache_dir();   // empty: no cache

// The scan of a compile with these options and facts, run in `cwd`.
ScanRequest scan_request(ScanOptions o, CompilerFacts f, const std::string& cwd);

}  // namespace zbuild::scan
