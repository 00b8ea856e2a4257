#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "client/headers.h"
#include "common/fs.h"
#include "common/temp_dir.h"

using namespace zbuild::client;

TEST_CASE("scan argv drops outputs and depfile options and adds -M -MG") {
  std::vector<std::string> in{"g++", "-O2", "-MD", "-MF", "a.d", "-c", "a.cc", "-o", "a.o", "-MTx"};
  auto out = scan_argv(in);
  REQUIRE(out == std::vector<std::string>{"g++", "-O2", "a.cc", "-M", "-MG"});
}

TEST_CASE("only compiler drivers with -c are scanned") {
  REQUIRE(is_scannable_compile({"g++", "-c", "a.cc"}));
  REQUIRE(is_scannable_compile({"/usr/bin/x86_64-linux-gnu-gcc-12", "-c", "a.c"}));
  REQUIRE(is_scannable_compile({"clang++", "-c", "a.cc"}));
  REQUIRE_FALSE(is_scannable_compile({"g++", "a.o", "-o", "prog"}));
  REQUIRE_FALSE(is_scannable_compile({"ar", "rcs", "lib.a", "-c"}));
  REQUIRE_FALSE(is_scannable_compile({"ccache-gccx", "-c"}));
}

TEST_CASE("manifests round-trip, read version 1, and reject unknown formats") {
  HeaderSet set{{'R', "include/a.h", zbuild::digest_bytes("a")},
                {'H', "/usr/include/stdio.h", zbuild::digest_bytes("b")},
                {'G', "gen/c.h", {}}};
  HeaderSet other{{'R', "include/a.h", zbuild::digest_bytes("a, edited")}};
  auto back = decode_manifest(encode_manifest({set, other}));
  REQUIRE(back.ok());
  REQUIRE(back.value() == std::vector<HeaderSet>{set, other});
  auto v1 = decode_manifest("zbuild-manifest 1\nR " + zbuild::digest_bytes("a").str() + " include/a.h\n");
  REQUIRE(v1.ok());
  REQUIRE(v1.value() == std::vector<HeaderSet>{{set[0]}});
  REQUIRE(decode_manifest("zbuild-manifest 2\n").value().empty());
  REQUIRE_FALSE(decode_manifest("zbuild-manifest 2\nR " + zbuild::digest_bytes("a").str() + " a.h\n").ok());
  REQUIRE_FALSE(decode_manifest("zbuild-manifest 1\nX foo\n").ok());
  REQUIRE_FALSE(decode_manifest("zbuild-manifest 3\n").ok());
}

TEST_CASE("a manifest keeps the newest header sets, each once") {
  auto set_of = [](const std::string& v) { return HeaderSet{{'R', "a.h", zbuild::digest_bytes(v)}}; };
  std::vector<HeaderSet> known;
  for (int i = 0; i < 20; ++i) known = add_header_set(set_of("v" + std::to_string(i % 3)), known);
  // Three versions switched back and forth: three sets, the newest first.
  REQUIRE(known == std::vector<HeaderSet>{set_of("v1"), set_of("v0"), set_of("v2")});
  for (int i = 0; i < 20; ++i) known = add_header_set(set_of("w" + std::to_string(i)), known);
  REQUIRE(known.size() == kManifestSets);
  REQUIRE(known.front() == set_of("w19"));
}

TEST_CASE("the scan the client runs is checked: no option that runs a program or loads code") {
  zbuild::TempDir tmp("headers-test");
  const auto& dir = tmp.path;
  REQUIRE(zbuild::write_file_atomic(dir / "ok.rsp", "-O2 -Iinc").ok());
  REQUIRE(zbuild::write_file_atomic(dir / "evil.rsp", "-O2 -wrapper /bin/sh,-c,touch\\ /tmp/pwned").ok());
  REQUIRE(zbuild::write_file_atomic(dir / "nested.rsp", "@evil.rsp").ok());
  const std::string cwd = dir.string();

  auto ok = checked_scan_compile({"g++", "@ok.rsp", "-c", "a.cc", "-o", "a.o"}, cwd);
  REQUIRE(ok.ok());
  CHECK(ok.value() == std::vector<std::string>{"g++", "-O2", "-Iinc", "-c", "a.cc", "-o", "a.o"});
  // Not a scannable compile: nothing to run, nothing to check.
  auto link = checked_scan_compile({"g++", "a.o", "-o", "app", "-B/tmp/evil"}, cwd);
  REQUIRE(link.ok());
  CHECK(link.value().empty());
  CHECK(checked_scan_compile({"sh", "-c", "-wrapper"}, cwd).value().empty());

  // The scan applies common/command_policy (whose own test holds the full list of options):
  // one option given plainly, and the same kind of option hidden in response files.
  for (auto argv : std::vector<std::vector<std::string>>{{"g++", "-B/tmp/evil", "-c", "a.cc"},
                                                         {"g++", "@evil.rsp", "-c", "a.cc"},
                                                         {"g++", "@nested.rsp", "-c", "a.cc"}}) {
    INFO(argv[1]);
    auto r = checked_scan_compile(argv, cwd);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("is refused") != std::string::npos);
  }
  // "-c" inside a response file still makes a compile, and it is checked.
  REQUIRE(zbuild::write_file_atomic(dir / "c.rsp", "-c -fplugin=x.so").ok());
  CHECK_FALSE(checked_scan_compile({"gcc", "@c.rsp", "a.c"}, cwd).ok());
}

TEST_CASE("the scan's environment is the task's checked variables and a fixed PATH") {
  auto env = scan_environment({"LANG=C", "CPPFLAGS=-DX"});
  REQUIRE(env.ok());
  CHECK(env.value() == std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C", "CPPFLAGS=-DX"});
  CHECK_FALSE(scan_environment({"LD_PRELOAD=/tmp/x.so"}).ok());
  CHECK_FALSE(scan_environment({"PATH=/tmp/evil"}).ok());
  CHECK_FALSE(scan_environment({"GCONV_PATH=/tmp"}).ok());
}
