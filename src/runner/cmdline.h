// Compiler command-line analysis for zbuild-cc: is this a single-source C/C++ compile that can
// run on a worker, and if so, what are its source, object, dependency-file options, and the
// commands to scan its headers and to run it remotely.
//
// Anything not understood runs locally, unchanged (the caller execs the compiler): linking,
// -E/-S/-M alone, stdin, several sources, outputs other than the object (coverage notes,
// split DWARF, dumps, -save-temps), profile data, plugins, -Wp/-Xpreprocessor, unknown options,
// and every option cmd::check_compiler_options refuses (it runs another program or loads code:
// the user's own build may do that here, a worker never does).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace zbuild::runner {

enum class Lang { C, Cxx, Preprocessed };

// The dependency-file options of a compile (-MD/-MMD/-MF/-MT/-MQ/-MP).
struct DepOptions {
  bool md = false;          // -MD or -MMD given
  bool system = true;       // false for -MMD (system headers left out)
  bool phony = false;       // -MP
  std::string file;         // -MF, else derived from the object (gcc's rule)
  std::vector<std::pair<std::string, std::string>> targets;   // ("-MT"|"-MQ", value), in order
};

struct Compile {
  std::vector<std::string> argv;    // compiler first; response files expanded
  std::string source;               // as written
  std::string object;               // -o as written, else gcc's default (basename.o in cwd)
  Lang lang = Lang::C;
  DepOptions deps;
  bool color_auto = true;           // no -f[no-]diagnostics-color=always/never decided colours

  // The compile as it runs on a worker: dependency options removed (the runner writes the
  // depfile itself), colours made explicit when `want_color`.
  std::vector<std::string> remote_argv(bool want_color) const;
  // The same with -o naming `object_as` instead of the object, so that one compile written to
  // two objects (a source built into two libraries with the same flags) is one action, as ccache
  // keys it. nullopt when there is no -o, or when the object records its own command line
  // (clang's -frecord-command-line, -grecord-command-line): then the name is part of the result.
  // gcc's options that name files after the object (-gsplit-dwarf, --coverage, -fstack-usage,
  // -save-temps, -frecord-gcc-switches, ...) already compile locally.
  std::optional<std::vector<std::string>> remote_argv_as(bool want_color, const std::string& object_as) const;
  // The name an object gets from the command that makes it (zbuild-cc and `zbuild submit`
  // alike): `prefix`, then 16 hex digits of a hash of the command with -o left out
  // (remote_argv_as with "-") and `root` replaced by a placeholder (every checkout the same
  // name), of `cwd` (the working folder, relative to the root) and of `extra` when not empty,
  // then ".o". Nothing when the object must keep its own name (remote_argv_as says when).
  std::optional<std::string> object_name(bool want_color, const std::string& prefix, const std::string& root,
                                         const std::string& cwd, const std::string& extra = {}) const;
  // The local header scan: the preprocessor with -M (-MM for -MMD), the compile's targets or
  // gcc's default one, -MP when asked, writing to `depfile`; -H (headers on stderr) for -MM,
  // which leaves system headers out of the depfile.
  std::vector<std::string> scan_argv(const std::string& depfile) const;
  // Where gcc writes the depfile (relative paths are relative to the compile's cwd).
  std::string depfile_path() const { return deps.file; }
};

struct Analysis {
  bool remote = false;
  std::string why_local;   // for --verbose/ZBUILD_DEBUG: the reason it runs locally
  Compile compile;
};

// `argv[0]` is the compiler. Response files (@file) are read relative to `cwd`.
Analysis analyze(const std::vector<std::string>& argv, const std::string& cwd);

// The prerequisites of the first rule of a depfile (gcc's -M output): -MP's phony rules for
// each header, which follow it, are left out.
std::vector<std::string> depfile_inputs(const std::string& text);

// Paths printed by gcc -H on stderr ("... /usr/include/stdio.h"); other lines are ignored.
std::vector<std::string> parse_dash_h(const std::string& err);

}  // namespace zbuild::runner
