// File helpers. Every output zbuild writes goes through write_file_atomic: a temp file in the
// same directory, then rename, so a reader sees the old file or the new one, never a torn one.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace zbuild {

Result<std::string> read_file(const std::filesystem::path& path);
Status write_file_atomic(const std::filesystem::path& path, std::string_view data, bool executable = false);

// Streams a file into `path` atomically through a callback that appends chunks.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path path, bool executable = false);
  ~AtomicFileWriter();  // removes the temp file unless commit() succeeded
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  Status open();
  Status append(std::string_view data);
  Status commit();

 private:
  std::filesystem::path path_;
  std::filesystem::path tmp_;
  bool executable_;
  int fd_ = -1;
  bool committed_ = false;
};

bool is_executable_file(const std::filesystem::path& path);

}  // namespace zbuild
