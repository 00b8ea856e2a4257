#include <catch2/catch.hpp>

#include "common/make_deps.h"

using zbuild::parse_make_deps;

TEST_CASE("make dependency output is parsed, continuation lines and escapes included") {
  auto deps = parse_make_deps("out/a.o: src/a.cc include/x.h \\\n /usr/include/stdio.h dir\\ with\\ space/y.h\n");
  REQUIRE(deps == std::vector<std::string>{"src/a.cc", "include/x.h", "/usr/include/stdio.h", "dir with space/y.h"});
}
