// Root-free actions (schemas/README.md, "Action key"; docs/graph-format.md, "Any checkout"):
// the same project checked out at /home/a/proj and /home/b/proj shares its cache. An action is
// *root-free* when nothing it writes can depend on where the exec root lives; its key then
// holds the root's occurrences in argv as a fixed placeholder and leaves the root itself out.
// Everything else keeps the root in its key (correct, just not shared between checkouts).
//
// The rule, decided from the action alone (client, daemon and worker agree on it):
//  * a C/C++ compile (a compiler driver with -c or -S, without -E) that carries the root's
//    prefix map, `-ffile-prefix-map=ROOT=.` (added by `zbuild submit` and zbuild-cc unless told
//    --keep-root-paths / ZBUILD_KEEP_ROOT_PATHS=1), where the root appears only at the start of
//    a path the map covers: an include folder or file (-I, -isystem, -iquote, -idirafter,
//    -include, -imacros, --sysroot, -isysroot), the source, the object (-o) and the dependency
//    options (-MF, -MT, -MQ: depfile outputs are made root-free by the worker, see
//    relativize_depfile) — and no option records the command line or writes paths the map does
//    not cover (-frecord-gcc-switches, -grecord-*, coverage and profiling, -gsplit-dwarf,
//    -save-temps);
//  * a link or archive by a toolchain program (compiler driver without -c/-S/-E, ar, ranlib,
//    ld, strip, objcopy, nm) whose argv does not name the root at all and that compiles no
//    source itself and does not use LTO;
//  * in both cases the environment does not name the root and sets no DEPENDENCIES_OUTPUT /
//    SUNPRO_DEPENDENCIES, and no host file (compiler, system header) names the root (a client
//    may name any root, /usr/include too: the map would then rewrite system headers' paths).
//  * CMake's archive step, `sh -c 'cmake -E rm -f LIB && ar qc LIB OBJS && ranlib LIB'`: only
//    `:`, `cmake -E rm -f`, archivers and ranlib joined by "&&", no shell expansion, quoting or
//    redirection, and no word naming the root;
// A -D value, a -Wl,-rpath, any other option naming the root, and every other program (sh,
// python, custom commands: they may write their working directory) keep the root in the key.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proto/action.h"

namespace zbuild {

// What stands for the root in a root-free key (a NUL byte cannot occur in an argument).
inline constexpr std::string_view kRootPlaceholder{"\0zbuild-root\0", 13};

// The root can be mapped: absolute, lexically normal, not "/", made of characters that need no
// quoting in a prefix map or a depfile ([A-Za-z0-9._+,@~/-]).
bool root_mappable(std::string_view root);

// "-ffile-prefix-map=ROOT=."
std::string root_prefix_map(std::string_view root);

// A C/C++ compile (-c or -S, no -E) by a compiler driver.
bool compiles_code(const std::vector<std::string>& argv);

// Adds root_prefix_map(root) right after the compiler for a C/C++ compile when the root can be
// mapped and argv does not hold it yet. True when argv holds it afterwards.
bool add_root_prefix_map(std::vector<std::string>& argv, std::string_view root);

// The rule above.
bool root_free(const ActionSpec& a);

// CMake's archive script (`sh -c 'cmake -E rm -f LIB && ar qc LIB OBJS && ranlib LIB'`, in the
// shape the rule above describes): the programs it runs, the shell first, as written; empty
// for any other command.
std::vector<std::string> archive_script_programs(const std::vector<std::string>& argv);

// `s` with every occurrence of `root` that ends at a path boundary ('/', '=' or the end)
// replaced by kRootPlaceholder.
std::string without_root(std::string_view s, std::string_view root);

// `s` with every kRootPlaceholder replaced by `root`: a root-free task's stdout and stderr come
// from the cache with the placeholder where the root (or the sandbox) was, and each client puts
// its own root back.
std::string with_root(std::string_view s, std::string_view root);

// The depfiles a compile writes (-MF, -MD/-MMD beside the object, -Wp,-MD,FILE), as paths
// relative to the exec root (lexically normal; those outside the root left out).
std::vector<std::string> depfile_outputs(const ActionSpec& a);

// Make-rule text (a depfile) with each word that is a path under one of `prefixes` (absolute
// roots the command saw: the exec root, or the sandbox standing in for it) rewritten relative to
// `cwd` (the task's folder, relative to the root), as make and ninja read it. Everything else is
// left byte for byte.
std::string relativize_depfile(std::string_view text, const std::vector<std::string>& prefixes,
                               std::string_view cwd);

}  // namespace zbuild
