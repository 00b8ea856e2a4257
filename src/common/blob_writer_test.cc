#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

#include "common/blob_writer.h"
#include "common/temp_dir.h"

namespace fs = std::filesystem;
using zbuild::digest_bytes;
using zbuild::FileBlobWriter;
using zbuild::MemoryBlobWriter;
using zbuild::TempDir;

TEST_CASE("blob writer: chunks in order, hashed, checked against the digest") {
  std::string text = "hello, chunked world";
  MemoryBlobWriter w(digest_bytes(text));
  REQUIRE_FALSE(w.append(0, text.substr(0, 5)).value());
  REQUIRE_FALSE(w.append(0, "hello").ok());               // out of order
  REQUIRE_FALSE(w.append(5, text.substr(5) + "!").ok());  // past the announced size
  REQUIRE(w.append(5, text.substr(5)).value());
  REQUIRE(w.take() == text);

  MemoryBlobWriter bad(digest_bytes(text));
  auto r = bad.append(0, std::string(text.size(), 'x'));   // right size, wrong content
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().message.find("does not match") != std::string::npos);
}

TEST_CASE("file blob writer: one content to several confined paths, renamed into place only when whole") {
  TempDir t("blob-writer-test");
  std::string text(300000, 'z');
  {
    FileBlobWriter w(digest_bytes(text));
    REQUIRE(w.add(t.path, "out/a.o", false).ok());
    REQUIRE(w.add(t.path, "out/copy/a.o", true).ok());
    REQUIRE_FALSE(w.append(0, std::string_view(text).substr(0, 1000)).value());
    REQUIRE_FALSE(fs::exists(t.path / "out/a.o"));          // nothing visible half-written
    REQUIRE(w.append(1000, std::string_view(text).substr(1000)).value());
    REQUIRE(w.commit().ok());
    REQUIRE(w.files() == 2);
  }
  REQUIRE(fs::file_size(t.path / "out/a.o") == text.size());
  REQUIRE((fs::status(t.path / "out/copy/a.o").permissions() & fs::perms::owner_exec) != fs::perms::none);

  // A corrupt blob leaves no file and no temp file behind.
  {
    FileBlobWriter w(digest_bytes(text));
    REQUIRE(w.add(t.path, "out/b.o", false).ok());
    REQUIRE_FALSE(w.append(0, std::string(text.size(), 'y')).ok());
  }
  REQUIRE_FALSE(fs::exists(t.path / "out/b.o"));
  size_t entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(t.path / "out")) ++entries;
  REQUIRE(entries == 2);   // a.o and copy/

  // A path out of the root is refused when added, before any byte is taken.
  FileBlobWriter w(digest_bytes(text));
  REQUIRE_FALSE(w.add(t.path, "../escape.o", false).ok());
  fs::create_directory_symlink("/tmp", t.path / "link");
  REQUIRE_FALSE(w.add(t.path, "link/x.o", false).ok());
}
