// The runner's header manifest: which files a compile read and the depfile it writes, kept in
// the daemon's store so an unchanged translation unit is neither rescanned nor re-preprocessed
// (ccache's direct mode). Keyed by runner_manifest_key() over everything that decides which
// files the preprocessor opens and what the depfile says: the full command line (dependency
// options included), the working directory, the exec root, the environment allow-list, the
// compiler's and the source's digests.
//
// Format, version 2 (text; value of store meta key "man:<key>"): up to kManifestRecords
// records, newest first — one per set of files the translation unit was seen with, so a header
// switched back and forth finds each version again (as ccache's manifests keep several):
//   zbuild-cc-manifest 2
//   M <byte count>                                  a record of that many bytes follows:
//   R <digest> <path relative to the exec root>     a file shipped to the worker
//   H <digest> <absolute path>                      a file outside the root (checked, not shipped)
//   O <digest>                                      the object the compile produced last time
//   D <byte count>                                  last, when the compile writes a depfile:
//   <the depfile, exactly as the compiler wrote it>
// A record is valid when every R and H file still has its digest. O is a prediction only
// (the runner asks for that blob together with the submission, saving a round trip on a hit);
// the daemon's answer decides. Version 1 ("zbuild-cc-manifest 1", then one record's lines) is
// still read.
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
  bool operator==(const ManifestEntry&) const = default;
};

struct Manifest {
  std::vector<ManifestEntry> files;
  bool has_depfile = false;
  std::string depfile;
  Digest object;          // empty: not known
};

constexpr size_t kManifestRecords = 8;

std::string encode_manifest(const std::vector<Manifest>& records);
Result<std::vector<Manifest>> decode_manifest(std::string_view text);
// `fresh` first, then the `known` records with other files, at most kManifestRecords.
std::vector<Manifest> add_manifest_record(Manifest fresh, const std::vector<Manifest>& known);

}  // namespace zbuild::runner
