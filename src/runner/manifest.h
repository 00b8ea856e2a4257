// The runner's header manifest: which files a compile read and the depfile it writes, kept in
// the daemon's store so an unchanged translation unit is neither rescanned nor re-preprocessed
// (ccache's direct mode). Keyed by runner_manifest_key() over everything that decides which
// files the preprocessor opens and what the depfile says: the full command line (dependency
// options included), the working directory, the exec root, the environment allow-list, the
// compiler's and the source's digests.
//
// Format, version 1 (text; value of store meta key "man:<key>"):
//   zbuild-cc-manifest 1
//   R <digest> <path relative to the exec root>     a file shipped to the worker
//   H <digest> <absolute path>                      a file outside the root (checked, not shipped)
//   O <digest>                                      the object the compile produced last time
//   D <byte count>                                  last, when the compile writes a depfile:
//   <the depfile, exactly as the compiler wrote it>
// A manifest is valid when every R and H file still has its digest. O is a prediction only
// (the runner asks for that blob together with the submission, saving a round trip on a hit);
// the daemon's answer decides.
#pragma once

#include <string>
#include <vector>

#include "common/digest.h"
#include "common/result.h"

namespace zbuild::runner {

struct ManifestEntry {
  char kind = 'R';      // 'R' or 'H'
  std::string path;
  Digest digest;
};

struct Manifest {
  std::vector<ManifestEntry> files;
  bool has_depfile = false;
  std::string depfile;
  Digest object;          // empty: not known
};

std::string encode_manifest(const Manifest& m);
Result<Manifest> decode_manifest(std::string_view text);

}  // namespace zbuild::runner
