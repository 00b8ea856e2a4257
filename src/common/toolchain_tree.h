// A toolchain tree: every file outside the exec root that a compile or link with one compiler
// can touch (the driver, the programs it runs, their shared libraries and loader, the startup
// files and libraries a link reads), as (kind, absolute path, digest or link target) entries.
// Its encoding is a blob in the CAS and its digest names the toolchain: it is part of the
// action key, and a worker whose host files differ fetches the tree's blobs and runs the task
// with that tree at the original paths (docs/toolchains.md).
//
// Encoding, version 1 (text, one entry per line, sorted by path, no duplicates):
//   zbuild-toolchain 1
//   d<TAB>/usr                        a folder
//   f<TAB>/usr/lib/x.o<TAB><digest>   a file (digest as Digest::str())
//   x<TAB>/usr/bin/g++-12<TAB><digest>   an executable file
//   l<TAB>/usr/bin/g++<TAB>g++-12     a symbolic link and its target
// The system headers a compile reads are not in the tree: each task lists them as host files.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/result.h"

namespace zbuild::toolchain {

constexpr int kTreeVersion = 1;

struct Entry {
  char kind = 'f';        // 'd', 'f', 'x' or 'l'
  std::string path;       // absolute, normalised
  Digest digest;          // 'f' and 'x'
  std::string target;     // 'l'
  auto operator<=>(const Entry&) const = default;
};

// An absolute path with no empty, "." or ".." component and no trailing '/'.
bool normalised_absolute(std::string_view p);

// The top-level folders a tree may hold (the toolchain folders, as the worker's host check).
bool allowed_path(std::string_view abs);

struct Tree {
  std::vector<Entry> entries;   // sorted by path

  std::string encode() const;
  Digest digest() const { return digest_bytes(encode()); }
  // Hostile bytes (they come from a peer): every path absolute, normalised, printable, within
  // the allowed folders and not below a link of the tree; sorted and unique; at most
  // `max_entries`. The message names the line.
  static Result<Tree> decode(std::string_view text, size_t max_entries = 100000);
};

}  // namespace zbuild::toolchain
