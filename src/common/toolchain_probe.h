// Finding a compiler's toolchain tree on the submitting host (client and zbuild-cc), by asking
// the compiler itself: the programs it names (-print-prog-name, -print-file-name), the commands
// and files a small compile and link reports (-v, and the linker's -t trace of every file it
// reads), and the shared libraries and loader every program and library there needs (ldd).
// Symbolic links and folders on the way to each file are entries too, so the tree rebuilt on a
// worker resolves every path as the host does.
//
// Computed once per toolchain: the result is remembered in a per-user file
// ($XDG_CACHE_HOME/zbuild/toolchains-1/, else ~/.cache/zbuild/toolchains-1/;
// ZBUILD_TOOLCHAIN_CACHE=DIR moves it, =off disables) with the size, mtime and inode of every
// file of the tree, and reused while all of them still match.
//
// Cache file format, version 1: "zbuild-toolchain-cache 1 probe <kProbeVersion> <compiler path>",
// then one line per
// file "<size> <mtime_ns> <inode> <path>", then a line "--", then the tree's encoding.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "common/toolchain_tree.h"

namespace zbuild::toolchain {

// What discover() looks at; raised when it finds more, so cached trees are found again.
constexpr int kProbeVersion = 3;

// `compiler`: the absolute path the task runs (argv[0] resolved in PATH).
Result<Tree> discover(const std::string& compiler);

// The tree of other toolchain programs (an archiver, ranlib, the shell and cmake of CMake's
// archive step): each program with its links, and the shared libraries and loader they need.
Result<Tree> programs_tree(const std::vector<std::string>& programs);

// discover() through the per-user cache.
Result<Tree> cached(const std::string& compiler);
// programs_tree() through the same cache (it runs ldd on every program and library: a build
// with archive steps would pay that on every submit).
Result<Tree> cached_programs(const std::vector<std::string>& programs);

// The shared libraries (and loader) a dynamic ELF file needs, as ldd resolves them on this
// host; empty for anything else.
std::vector<std::string> shared_libraries(const std::string& path);

// The folders the compiler's linker searches for -lNAME (-print-search-dirs), in order.
std::vector<std::string> library_dirs(const std::string& compiler);

// A file holding `t`'s encoding (in the per-user cache, written once), for uploaders that send
// files by path; empty when the cache is off or cannot be written.
std::string tree_file(const Tree& t);

}  // namespace zbuild::toolchain
