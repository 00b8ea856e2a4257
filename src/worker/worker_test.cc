// The worker's refusals alone: what a task may run, with which environment and options, and
// which host files it may name — no daemon, no sandbox process.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/fs.h"
#include "common/temp_dir.h"
#include "worker/executor.h"
#include "worker/host_check.h"

using namespace zbuild;
using namespace zbuild::worker;
namespace fs = std::filesystem;

namespace {


void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

ActionSpec compile(const std::string& root) {
  ActionSpec a;
  a.argv = {"gcc", "-c", "a.c", "-o", "a.o"};
  a.root = root;
  a.outputs = {"a.o"};
  return a;
}

}  // namespace

TEST_CASE("a task's program must be allow-listed and never a file it ships") {
  SandboxPolicy p;
  std::string why;
  REQUIRE(program_allowed(p, "gcc", &why, "/home/u/proj"));
  REQUIRE(program_allowed(p, "/usr/bin/g++-12", &why, "/home/u/proj"));
  REQUIRE_FALSE(program_allowed(p, "/home/u/proj/tools/gcc", &why, "/home/u/proj"));
  REQUIRE(why.find("under the exec root") != std::string::npos);
  REQUIRE_FALSE(program_allowed(p, "./gcc", &why, "/home/u/proj"));
  REQUIRE_FALSE(program_allowed(p, "python3", &why, "/home/u/proj"));
  REQUIRE(why.find("not allow-listed") != std::string::npos);
  p.allowed.push_back("python3");
  REQUIRE(program_allowed(p, "python3", &why, "/home/u/proj"));
}

TEST_CASE("refusal() checks environment and options, response files included") {
  TempDir t;
  SandboxPolicy p;
  ActionSpec a = compile(t.path.string());
  REQUIRE(refusal(p, a, t.path.string()).empty());

  ActionSpec env = a;
  env.env = {"LD_PRELOAD=/tmp/evil.so"};
  REQUIRE(refusal(p, env, t.path.string()).find("LD_PRELOAD") != std::string::npos);

  ActionSpec wrap = a;
  wrap.argv = {"gcc", "-wrapper", "/bin/sh,-c,id", "-c", "a.c"};
  REQUIRE(refusal(p, wrap, t.path.string()).find("-wrapper") != std::string::npos);

  write(t.path / "args.rsp", "-O2 -fplugin=/tmp/evil.so\n");
  ActionSpec rsp = a;
  rsp.argv = {"gcc", "@args.rsp", "-c", "a.c"};
  REQUIRE(refusal(p, rsp, t.path.string()).find("-fplugin") != std::string::npos);

  ActionSpec outside = a;
  outside.argv = {"gcc", "@/etc/passwd", "-c", "a.c"};
  REQUIRE(refusal(p, outside, t.path.string()).find("response file") != std::string::npos);
  outside.argv = {"gcc", "@../escape.rsp", "-c", "a.c"};
  REQUIRE_FALSE(refusal(p, outside, t.path.string()).empty());

  p.allowed_options.insert("-fplugin");
  REQUIRE(refusal(p, rsp, t.path.string()).empty());
}

TEST_CASE("host files: only regular files under the toolchain folders, no oracle") {
  TempDir t;
  fs::path tc = t.path / "toolchain";
  write(tc / "include" / "stdio.h", "int printf(const char*, ...);\n");
  fs::create_symlink("/etc/passwd", tc / "include" / "passwd-link.h");
  HostFileChecker hc({tc.string()});
  Digest good = digest_bytes("int printf(const char*, ...);\n");

  REQUIRE(hc.check({{(tc / "include" / "stdio.h").string(), good}}).ok());

  auto shadow = hc.check({{"/etc/shadow", Digest{1, 2, 3}}});
  REQUIRE_FALSE(shadow.ok());
  REQUIRE(shadow.error().message.find("outside this worker's toolchain folders") != std::string::npos);
  REQUIRE_FALSE(hc.check({{"/dev/zero", Digest{1, 2, 3}}}).ok());
  REQUIRE_FALSE(hc.check({{(tc / ".." / ".." / "etc" / "passwd").string(), Digest{1, 2, 3}}}).ok());

  // A symlink out of the folders, a mismatch and a missing file all read alike, with no digest.
  auto link = hc.check({{(tc / "include" / "passwd-link.h").string(), Digest{1, 2, 3}}});
  auto wrong = hc.check({{(tc / "include" / "stdio.h").string(), digest_bytes("other")}});
  auto missing = hc.check({{(tc / "include" / "nope.h").string(), good}});
  for (auto* r : {&link, &wrong, &missing}) {
    REQUIRE_FALSE(r->ok());
    REQUIRE(r->error().message.find("is not the same on this worker") != std::string::npos);
    REQUIRE(r->error().message.find(good.hex()) == std::string::npos);
  }
  REQUIRE(wrong.error().message.find(digest_bytes("other").hex()) == std::string::npos);

  // A FIFO under the folders does not hang the check.
  REQUIRE(::mkfifo((tc / "include" / "fifo.h").c_str(), 0600) == 0);
  REQUIRE_FALSE(hc.check({{(tc / "include" / "fifo.h").string(), good}}).ok());
}

TEST_CASE("host files checked before are trusted only while they are the very same, unchanged file") {
  TempDir t;
  fs::path tc = t.path / "toolchain";
  fs::path h = tc / "include" / "stdio.h";
  write(h, "int printf(const char*, ...);\n");
  HostFileChecker hc({tc.string()});
  Digest good = digest_bytes("int printf(const char*, ...);\n");
  REQUIRE(hc.check({{h.string(), good}}).ok());
  REQUIRE(hc.check({{h.string(), good}}).ok());   // from its stamp
  // Rewritten in place, same size, modification time put back: the change time tells.
  struct stat before {};
  REQUIRE(::stat(h.c_str(), &before) == 0);
  write(h, "int printf(const char*, ...)?\n");
  timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, h.c_str(), times, 0) == 0);
  CHECK_FALSE(hc.check({{h.string(), good}}).ok());
  // Replaced by a link out of the folders to a file with the same content: refused.
  write(t.path / "outside.h", "int printf(const char*, ...);\n");
  fs::remove(h);
  fs::create_symlink(t.path / "outside.h", h);
  CHECK_FALSE(hc.check({{h.string(), good}}).ok());
  // Replaced by another file with the right content: hashed again, accepted.
  fs::remove(h);
  write(h, "int printf(const char*, ...);\n");
  CHECK(hc.check({{h.string(), good}}).ok());
}

TEST_CASE("host-file digests are kept for the next run in the user's host-file cache") {
  TempDir t;
  fs::path tc = t.path / "toolchain";
  fs::path cc1 = tc / "libexec" / "cc1";
  write(cc1, "a compiler\n");
  fs::path cache = t.path / "cache" / "hoststat-1";
  fs::create_directories(cache.parent_path());
  ::chmod(cache.parent_path().c_str(), 0700);
  Digest good = digest_bytes("a compiler\n");
  {
    HostFileChecker hc({tc.string()});
    hc.remember_in(cache.string(), 0);   // its change time is now: remembered all the same
    REQUIRE(hc.check({{cc1.string(), good}}).ok());
  }
  auto text = read_file(cache);
  REQUIRE(text.ok());
  CHECK(text.value().find(good.hex()) != std::string::npos);
  CHECK(text.value().find(cc1.string()) != std::string::npos);
  {
    HostFileChecker next({tc.string()});   // a new run: the digest comes from the cache
    next.remember_in(cache.string());
    CHECK(next.check({{cc1.string(), good}}).ok());
    CHECK_FALSE(next.check({{cc1.string(), digest_bytes("another compiler\n")}}).ok());
  }
  // Changed since (its stamps differ from the cached ones): hashed again, and the change seen.
  write(cc1, "a compiler!\n");
  HostFileChecker after({tc.string()});
  after.remember_in(cache.string());
  CHECK_FALSE(after.check({{cc1.string(), good}}).ok());
  CHECK(after.check({{cc1.string(), digest_bytes("a compiler!\n")}}).ok());
}

TEST_CASE("outputs reached through a symlinked folder are not inside the task's folder") {
  TempDir t;
  fs::create_directories(t.path / "out" / "obj");
  write(t.path / "out" / "obj" / "a.o", "object");
  fs::create_symlink("/etc", t.path / "out" / "etc");
  REQUIRE(inside_without_links(t.path, "out/obj/a.o"));
  REQUIRE_FALSE(inside_without_links(t.path, "out/etc/passwd"));
  REQUIRE_FALSE(inside_without_links(t.path, "../x"));
}

TEST_CASE("without bubblewrap the sandbox stands in for the root, mapped as the task maps the root") {
  ActionSpec a;
  a.root = "/home/a/proj";
  a.argv = {"gcc", "-I/home/a/proj/include", "-g", "-c", "/home/a/proj/src/x.c", "-o", "x.o"};
  // --keep-root-paths: the sandbox is mapped back to the root.
  REQUIRE(Executor::map_argv(a, "/sb/1") ==
          std::vector<std::string>{"gcc", "-ffile-prefix-map=/sb/1=/home/a/proj", "-I/sb/1/include", "-g", "-c",
                                   "/sb/1/src/x.c", "-o", "x.o"});
  // Root-free: the root is mapped to ".", so is the sandbox, first (clang keeps the first map).
  a.argv.insert(a.argv.begin() + 1, "-ffile-prefix-map=/home/a/proj=.");
  auto m = Executor::map_argv(a, "/sb/1");
  REQUIRE(m[1] == "-ffile-prefix-map=/sb/1=.");
  REQUIRE(m[3] == "-I/sb/1/include");
}
