// The worker's local blob cache: inputs fetched from the daemon are kept by digest under
// <work-dir>/blobs, so an input crosses the network to a worker at most once.
// Files are written through a temp name and renamed after their digest is checked.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/blob_writer.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/result.h"

namespace zbuild::worker {

class BlobCache {
 public:
  explicit BlobCache(std::filesystem::path dir);
  Status init();
  bool has(const Digest& d) const;
  std::filesystem::path path(const Digest& d) const;

  // Appends an in-order chunk of a blob being fetched. Returns true when the blob is
  // complete and verified; an error when a chunk is out of order or the content is wrong.
  Result<bool> add_chunk(const Digest& d, uint64_t offset, std::string_view data);
  void abandon(const Digest& d);
  uint64_t bytes_fetched() const { return bytes_fetched_; }

 private:
  std::filesystem::path dir_;
  std::map<std::string, std::unique_ptr<FileBlobWriter>> partial_;
  uint64_t bytes_fetched_ = 0;
};

}  // namespace zbuild::worker
