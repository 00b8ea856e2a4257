// Shipped toolchains on a worker (docs/toolchains.md). A task of a C/C++ compiler names its
// toolchain tree. When this host has every file of the tree and every system header the task
// lists, byte for byte, the task runs with the host's own files (no cost). Otherwise the worker
// fetches the tree's blobs it lacks into its blob cache once, and builds a private root for
// that toolchain under <work-dir>/toolchains/<tree digest>/root holding the tree at its original
// paths (files hard-linked from the blob cache, or copied when the mode differs). The system
// headers tasks list are added to that root as they arrive. The sandbox then binds that root in
// place of the host's /usr, /lib, ... so the compile sees only what the submitting host has.
//
// Trees and header paths come from peers: a tree is decoded with Tree::decode's checks, a header
// path must be absolute, normalised and under the toolchain folders, and nothing is created
// through a link (every folder on the way is made here and checked to be a real folder).
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/toolchain_tree.h"
#include "proto/action.h"
#include "worker/blob_cache.h"
#include "worker/host_check.h"

namespace zbuild::worker {

class Toolchains {
 public:
  Toolchains(std::filesystem::path dir, BlobCache& cache, HostFileChecker& hosts)
      : dir_(std::move(dir)), cache_(cache), hosts_(hosts) {}

  // The tree named `d`, decoded from the blob cache (which must hold it). Thread-safe.
  Result<std::shared_ptr<const toolchain::Tree>> tree(const Digest& d);

  // True when this host's files are the tree's and the task's host files, byte for byte.
  bool host_matches(const toolchain::Tree& t, const std::vector<HostFileSpec>& host_files);

  // Digests of the tree's files and of `host_files` that the blob cache lacks.
  std::vector<Digest> missing_blobs(const toolchain::Tree& t, const std::vector<HostFileSpec>& host_files) const;

  // The private root for tree `d` with `host_files` in it (all blobs in the cache). Thread-safe.
  Result<std::filesystem::path> root_for(const Digest& d, const std::vector<HostFileSpec>& host_files);

 private:
  struct Root {
    std::filesystem::path path;
    std::map<std::string, Digest> files;   // every file placed, tree and headers
    std::set<std::string> folders;         // folders made in it (relative to path)
  };
  Status place(Root& r, const std::string& abs, const Digest& d, bool exec);

  std::filesystem::path dir_;
  BlobCache& cache_;
  HostFileChecker& hosts_;
  std::mutex mu_;
  std::map<Digest, std::shared_ptr<const toolchain::Tree>> trees_;
  std::map<Digest, Root> roots_;
};

}  // namespace zbuild::worker
