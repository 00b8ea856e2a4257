// For tests: a fresh folder under the system temp folder (named after `what`), removed with
// everything in it when the object goes.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include <stdlib.h>

namespace zbuild {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& what = "test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("zbuild-" + what + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace zbuild
