// One chunked transfer of a blob whose digest is known in advance — the single writer behind
// the daemon's upload assembler (in memory), the worker's blob cache and the client's and
// runner's output files (on disk): chunks must arrive in order, bytes are hashed as they come,
// nothing past the announced size is taken, and the blob is accepted only when its digest
// matches; a file is then renamed into place (never visible half-written).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/fs.h"
#include "common/result.h"

namespace zbuild {

class BlobWriter {
 public:
  explicit BlobWriter(Digest want) : want_(want) {}
  virtual ~BlobWriter() = default;
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // Appends the chunk at `offset`. Errors: out of order, past the announced size, a write
  // failure. True when this chunk completed the blob and its digest matched (then commit()).
  Result<bool> append(uint64_t offset, std::string_view data);
  uint64_t have() const { return have_; }
  const Digest& digest() const { return want_; }

 protected:
  virtual Status write(std::string_view data) = 0;

 private:
  Digest want_;
  Hasher hasher_;
  uint64_t have_ = 0;
};

// Keeps the bytes in memory; take() hands them over once complete.
class MemoryBlobWriter final : public BlobWriter {
 public:
  using BlobWriter::BlobWriter;
  std::string take() { return std::move(data_); }
  size_t held() const { return data_.size(); }

 private:
  Status write(std::string_view data) override {
    data_.append(data);   // grows with what arrived, never with what was announced
    return {};
  }
  std::string data_;
};

// Writes through temp files in the destinations' folders; commit() renames them into place.
// One file (the worker's blob cache), or several with the same content confined to a root (the
// client's and the runner's outputs: AtomicFileWriter with a root, no link followed outside it).
class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(Digest want, std::filesystem::path path, bool executable = false) : BlobWriter(want) {
    files_.push_back(std::make_unique<AtomicFileWriter>(std::move(path), executable));
  }
  explicit FileBlobWriter(Digest want) : BlobWriter(want) {}   // targets come from add()

  // Opens `rel` under `root` as one more destination (before the first chunk).
  Status add(const std::filesystem::path& root, std::string_view rel, bool executable) {
    auto f = std::make_unique<AtomicFileWriter>(root, rel, executable);
    ZB_TRY(f->open());
    files_.push_back(std::move(f));
    return {};
  }
  Status open() { return files_.front()->open(); }   // the single-file form
  Status commit() {
    for (auto& f : files_) ZB_TRY(f->commit());
    return {};
  }
  size_t files() const { return files_.size(); }

 private:
  Status write(std::string_view data) override {
    for (auto& f : files_) ZB_TRY(f->append(data));
    return {};
  }
  std::vector<std::unique_ptr<AtomicFileWriter>> files_;
};

}  // namespace zbuild
