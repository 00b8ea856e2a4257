// Compiler-command and environment knowledge shared by the client, the runner, the graph
// loader and the worker (one list, kept here): which programs are C/C++ compiler drivers,
// which command lines compile, which environment variables and compiler options make a
// process load or run code it was not asked to run, and response-file (@file) expansion.
//
// The refusal lists are the security boundary of a worker (docs/security.md, "What a task (a graph,
// or a hostile client) can and cannot do on a worker"): a task may run an allow-listed compiler,
// but not make that compiler run another program (`-wrapper`, `-B`), load a plugin (`-fplugin`,
// `-Wl,-plugin`), read driver specs (`-specs`), or make the loader inject code (`LD_PRELOAD`,
// `GCONV_PATH`, ...). Operators may allow single options by name.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace zbuild::cmd {

// gcc, g++, clang, clang++, cc, c++ — with target prefixes and version suffixes
// (x86_64-linux-gnu-g++-12, clang-16), given as a bare name or a path.
bool is_c_compiler(std::string_view argv0);

// A program every worker runs without being told: a compiler driver or a binutils tool (ar,
// ranlib, ld, as, strip, objcopy, nm, gcc-ar, gcc-ranlib).
bool toolchain_program(std::string_view argv0);

// Whether a worker announcing `extra` allowed programs (names or absolute paths) and
// `any_program` may run `argv0` — the same rule the worker applies (the scheduler places
// tasks with it, so a worker is never sent a task it would refuse).
bool program_allowed_by(std::string_view argv0, const std::vector<std::string>& extra, bool any_program);

// Options whose value is the next argument when not joined ("-I dir", "-o out.o", "-D X"): the
// one list the runner's analysis, the include scanner and the client use to step over values.
bool option_takes_value(std::string_view option);

// A compiler driver asked to compile without linking (-c, -S or -E).
bool is_compile(const std::vector<std::string>& argv);
// A compiler driver asked for code it writes itself: -c or -S, not -E (what the root's prefix
// map and a toolchain's compiler proper apply to).
bool compiles_code(const std::vector<std::string>& argv);
// A compiler driver asked for an object file (-c): what a header scan and a graph importer
// treat as a compile.
bool compiles_object(const std::vector<std::string>& argv);

// Environment variables that change what a compiler produces or prints (locale, colours,
// SOURCE_DATE_EPOCH, TZ): a compile takes them from the environment it was started in, and
// they are part of its key; the rest of that environment is left out.
const std::vector<std::string_view>& compiler_env_names();
// Those set in this process's environment, as "NAME=value", in the order above.
std::vector<std::string> compiler_env();
// Environment variables that make a compiler read or write files nobody ships (CPATH,
// DEPENDENCIES_OUTPUT, GCC_EXEC_PREFIX, ...): a compile started with one set runs where it is.
const std::vector<std::string_view>& local_only_env_names();

// Why an environment variable may not be part of a task ("loader variable", ...), or nullopt
// when it may. Covers the dynamic loader (LD_*), glibc (GCONV_PATH, MALLOC_*, GLIBC_TUNABLES,
// LOCPATH, ...), interpreters (PYTHON*, PERL5*, RUBY*, NODE_OPTIONS, BASH_ENV, ...), the
// compiler driver's program search (GCC_EXEC_PREFIX, COMPILER_PATH) and PATH (the worker's own).
std::optional<std::string> refused_env(std::string_view name);

// Checks a whole environment list ("NAME=value"); the error names the first refused variable.
Status check_env(const std::vector<std::string>& env);

// Reads a response file named by an @argument; nullopt when it does not exist (the argument is
// then kept literally, as gcc does).
using ResponseReader = std::function<Result<std::optional<std::string>>(const std::string& path)>;

// Expands @file arguments the way gcc does (whitespace-separated, '' and "" quoting, backslash
// escapes, nested files; at most 64 files). argv[0] is never expanded.
Result<std::vector<std::string>> expand_response_files(const std::vector<std::string>& argv,
                                                       const ResponseReader& read);
// The same, reading files from disk relative to `cwd`.
Result<std::vector<std::string>> expand_response_files(const std::vector<std::string>& argv, const std::string& cwd);

// Splits response-file text into arguments.
std::vector<std::string> split_response(std::string_view text);

// Refuses compiler options that run other programs or load code: -wrapper, -B, -fplugin*,
// -specs/--specs, --gcc-toolchain/-gcc-toolchain, -ccc-*, --ld-path, -fuse-ld with a path,
// -fpass-plugin, -Xclang -load/-plugin, -mllvm -load, and linker plugins through -Wl,/-Xlinker.
// `argv` must already have its response files expanded. `allowed` holds option names the
// operator allowed ("-B", "-fplugin", ...). The error names the option.
Status check_compiler_options(const std::vector<std::string>& argv, const std::set<std::string>& allowed = {});

// The option names check_compiler_options refuses (for --help and docs).
const std::vector<std::string>& refused_option_names();

}  // namespace zbuild::cmd
