#include <catch2/catch.hpp>

#include "client/headers.h"

using namespace zbuild::client;

TEST_CASE("make dependency output is parsed, continuation lines and escapes included") {
  auto deps = parse_make_deps("out/a.o: src/a.cc include/x.h \\\n /usr/include/stdio.h dir\\ with\\ space/y.h\n");
  REQUIRE(deps == std::vector<std::string>{"src/a.cc", "include/x.h", "/usr/include/stdio.h", "dir with space/y.h"});
}

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

TEST_CASE("manifests round-trip and reject unknown formats") {
  std::vector<HeaderEntry> es{{'R', "include/a.h", zbuild::digest_bytes("a")},
                              {'H', "/usr/include/stdio.h", zbuild::digest_bytes("b")},
                              {'G', "gen/c.h", {}}};
  auto text = encode_manifest(es);
  auto back = decode_manifest(text);
  REQUIRE(back.ok());
  REQUIRE(back.value().size() == 3);
  REQUIRE(back.value()[0].path == "include/a.h");
  REQUIRE(back.value()[0].digest == es[0].digest);
  REQUIRE(back.value()[2].kind == 'G');
  REQUIRE_FALSE(decode_manifest("zbuild-manifest 2\n").ok());
  REQUIRE_FALSE(decode_manifest("zbuild-manifest 1\nX foo\n").ok());
}
