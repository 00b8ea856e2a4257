#include <catch2/catch.hpp>

#include "common/command_policy.h"
#include "common/text.h"

using namespace zbuild;

TEST_CASE("compiler drivers are recognised by name") {
  REQUIRE(cmd::is_c_compiler("g++"));
  REQUIRE(cmd::is_c_compiler("/usr/bin/x86_64-linux-gnu-gcc-12"));
  REQUIRE(cmd::is_c_compiler("clang++-16"));
  REQUIRE(cmd::is_c_compiler("cc"));
  REQUIRE_FALSE(cmd::is_c_compiler("ccache"));
  REQUIRE_FALSE(cmd::is_c_compiler("sh"));
  REQUIRE(cmd::is_compile({"gcc", "-c", "a.c"}));
  REQUIRE_FALSE(cmd::is_compile({"gcc", "a.o", "-o", "a"}));
}

TEST_CASE("loader and interpreter variables are refused") {
  for (const char* v : {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH", "MALLOC_CHECK_", "GLIBC_TUNABLES",
                        "PYTHONPATH", "PERL5OPT", "BASH_ENV", "NODE_OPTIONS", "GCC_EXEC_PREFIX", "COMPILER_PATH",
                        "PATH"}) {
    INFO(v);
    REQUIRE(cmd::refused_env(v));
  }
  for (const char* v : {"LANG", "LC_ALL", "SOURCE_DATE_EPOCH", "TZ", "CFLAGS", "MY_DEFINE"}) {
    INFO(v);
    REQUIRE_FALSE(cmd::refused_env(v));
  }
  auto st = cmd::check_env({"LANG=C", "LD_PRELOAD=/x/evil.so"});
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.error().message.find("LD_PRELOAD") != std::string::npos);
  REQUIRE_FALSE(cmd::check_env({"NOEQUALS"}).ok());
}

TEST_CASE("options that run programs or load code are refused") {
  std::vector<std::vector<std::string>> bad = {
      {"gcc", "-wrapper", "/bin/sh,-c,id", "-c", "a.c"},
      {"gcc", "-B/tmp/evil", "-c", "a.c"},
      {"gcc", "-B", "/tmp/evil", "-c", "a.c"},
      {"gcc", "--prefix=/tmp/evil", "-c", "a.c"},
      {"gcc", "-fplugin=/tmp/evil.so", "-c", "a.c"},
      {"gcc", "-specs=/tmp/evil.specs", "-c", "a.c"},
      {"gcc", "--specs", "evil.specs", "a.o"},
      {"clang", "--gcc-toolchain=/tmp/tc", "-c", "a.c"},
      {"clang", "-fpass-plugin=/tmp/p.so", "-c", "a.c"},
      {"clang", "-Xclang", "-load", "-Xclang", "/tmp/p.so", "-c", "a.c"},
      {"gcc", "-fuse-ld=/tmp/ld", "a.o"},
      {"gcc", "-Wl,-plugin,/tmp/p.so", "a.o"},
      {"gcc", "-Xlinker", "--plugin=/tmp/p.so", "a.o"},
      {"gcc", "-Wp,-fplugin=/tmp/p.so", "-c", "a.c"},
      {"ar", "--plugin", "/tmp/p.so", "rcs", "x.a"},
  };
  for (auto& argv : bad) {
    INFO(argv[1]);
    REQUIRE_FALSE(cmd::check_compiler_options(argv).ok());
  }
  REQUIRE(cmd::check_compiler_options({"gcc", "-O2", "-Iinc", "-fuse-ld=gold", "-Wl,--as-needed", "-c", "a.c"}).ok());
  REQUIRE(cmd::check_compiler_options({"gcc", "-B/opt/tc", "-c", "a.c"}, {"-B"}).ok());
}

TEST_CASE("response files are expanded before the check") {
  auto read = [](const std::string& p) -> Result<std::optional<std::string>> {
    if (p == "args.rsp") return std::optional<std::string>("-O2 '-wrapper' /bin/sh,-c");
    if (p == "nested.rsp") return std::optional<std::string>("@args.rsp");
    return std::optional<std::string>();
  };
  auto e = cmd::expand_response_files({"gcc", "@nested.rsp", "-c", "a.c", "@missing"}, read);
  REQUIRE(e.ok());
  REQUIRE(e.value() == std::vector<std::string>{"gcc", "-O2", "-wrapper", "/bin/sh,-c", "-c", "a.c", "@missing"});
  REQUIRE_FALSE(cmd::check_compiler_options(e.value()).ok());
  auto loop = [](const std::string&) -> Result<std::optional<std::string>> { return std::optional<std::string>("@self"); };
  REQUIRE_FALSE(cmd::expand_response_files({"gcc", "@self"}, loop).ok());
}

TEST_CASE("untrusted text is escaped for terminals") {
  REQUIRE(printable("obj/a.o") == "obj/a.o");
  REQUIRE(printable("caf\xc3\xa9") == "caf\xc3\xa9");
  REQUIRE(printable("a\x1b[2Jb") == "a\\x1b[2Jb");
  REQUIRE(printable("evil\xe2\x80\xae" "cod.exe") == "evil\\u{202e}cod.exe");
  REQUIRE(printable("bad\xff") == "bad\\xff");
  REQUIRE(printable("line\nnext") == "line\\x0anext");
}
