#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "common/fs.h"
#include "common/make_deps.h"
#include "common/subprocess.h"
#include "common/temp_dir.h"
#include "scan/compiler_facts.h"
#include "scan/directives.h"
#include "scan/include_scan.h"
#include "scan/macros.h"

namespace fs = std::filesystem;
using namespace zbuild;
using namespace zbuild::scan;

namespace {

void put(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  REQUIRE(write_file_atomic(p, text).ok());
}

std::set<std::string> normal_set(const std::vector<std::string>& paths, const std::string& cwd) {
  std::set<std::string> out;
  for (auto& p : paths) out.insert((p[0] == '/' ? fs::path(p) : fs::path(cwd) / p).lexically_normal().string());
  return out;
}

struct Both {
  std::set<std::string> ours, gcc;
  ScanResult r;
};

// The scanner and `gcc -M` on the same compile.
Both scan_both(const std::vector<std::string>& argv, const std::string& source, const std::string& cwd, bool cxx) {
  Both b;
  auto o = scan_options(argv, source);
  REQUIRE(o.unsupported.empty());
  REQUIRE(o.source == source);
  REQUIRE(o.cplusplus == cxx);
  auto facts = compiler_facts(o, cwd, "test", "");
  REQUIRE(facts.ok());
  auto req = scan_request(o, facts.value(), cwd);
  DiskFiles files;
  b.r = scan_includes(req, files);
  std::vector<std::string> ours;
  for (auto& f : b.r.files) ours.push_back(f.path);
  b.ours = normal_set(ours, cwd);
  ProcessSpec ps;
  ps.argv = argv;
  ps.argv.insert(ps.argv.end(), {"-M", "-MF", "/dev/stdout"});
  ps.argv.erase(std::remove(ps.argv.begin(), ps.argv.end(), std::string("-c")), ps.argv.end());
  ps.cwd = cwd;
  auto pr = run_process(ps);
  REQUIRE(pr.ok());
  REQUIRE(pr.value().exit_code == 0);
  b.gcc = normal_set(parse_make_deps(pr.value().out), cwd);
  return b;
}

EvalContext cx_of(const MacroTable& m) {
  EvalContext cx;
  cx.macros = &m;
  return cx;
}

}  // namespace

TEST_CASE("directives are found past comments, strings, raw strings and splices") {
  std::string store;
  auto d = lex_directives(
      "/* #include \"no1.h\" */\n"
      "const char* s = \"#include <no2.h>\"; // #include <no3.h>\n"
      "auto r = R\"x(\n#include <no4.h>\n)x\";\n"
      "int n = 1'000; /* a comment\n#include <no5.h> */\n"
      "  #  include /* c */ <yes1.h> // trailing\n"
      "#define LONG a \\\n  b\n"
      "#include \"yes2.h\"\n"
      "#pragma once\n"
      "#if /* spans\n lines */ X\n#endif\n",
      store);
  REQUIRE(d.size() == 6);
  CHECK(d[0].kind == DirKind::Include);
  CHECK(d[0].text == "<yes1.h>");
  CHECK(d[0].line == 8);
  CHECK(d[1].kind == DirKind::Define);
  CHECK(d[1].text == "LONG a   b");
  CHECK(d[2].text == "\"yes2.h\"");
  CHECK(d[2].line == 11);
  CHECK(d[3].kind == DirKind::PragmaOnce);
  CHECK(d[4].kind == DirKind::If);
  CHECK(d[5].kind == DirKind::Endif);
}

TEST_CASE("tokenize reads each punctuator the scanner cares about as one token") {
  std::vector<std::string> texts;
  for (auto& t : tokenize("a<<=b>>=c...##<<>><=>===!=&&||->++--::.. &= - > <")) texts.emplace_back(t.text);
  std::vector<std::string> want = {"a",  "<<=", "b",  ">>=", "c",  "...", "##", "<<", ">>", "<=", ">=", "==",
                                   "!=", "&&",  "||", "->",  "++", "--",  "::", ".",  ".",  "&",  "=",  "-",
                                   ">",  "<"};
  CHECK(texts == want);
  auto toks = tokenize("x -1 #");
  REQUIRE(toks.size() == 4);
  CHECK(toks[1].kind == TokKind::Punct);
  CHECK(toks[1].space_before);
  CHECK(toks[3].text == "#");
}

TEST_CASE("#if conditions evaluate in three values over the macro table") {
  for (bool lazy : {false, true}) {
    MacroTable m;
    m.set_lazy_bodies(lazy);   // bodies tokenized when first expanded: the same answers
    INFO("lazy bodies: " << lazy);
    m.define("ONE 1", true);
    m.define("TWO (ONE + ONE)", true);
    m.define("F(x, y) ((x) * (y))", true);
    m.define("CAT(a, b) a ## b", true);
    m.define("USE_ISO 1", true);
    m.define("GLIBC_USE(F) CAT(USE_, F)", true);
    m.define("VA(...) __VA_ARGS__", true);
    m.define("OBJ_TO_FN F", true);
    m.define("UNSURE 1", false);
    auto cx = cx_of(m);
    CHECK(eval_condition("ONE", cx) == Tri::True);
    CHECK(eval_condition("TWO == 2 && defined(ONE) && !defined NOPE", cx) == Tri::True);
    CHECK(eval_condition("F(TWO, 3) == 6", cx) == Tri::True);
    CHECK(eval_condition("GLIBC_USE(ISO)", cx) == Tri::True);
    CHECK(eval_condition("VA(1, 2) == 2", cx) == Tri::True);
    CHECK(eval_condition("OBJ_TO_FN(2, 2) == 4", cx) == Tri::True);
    CHECK(eval_condition("UNDEFINED_NAME", cx) == Tri::False);
    CHECK(eval_condition("0x10 > 15 && 1 ? 2 : 0", cx) == Tri::True);
    CHECK(eval_condition("-1 < 0u", cx) == Tri::False);   // unsigned arithmetic
    CHECK(eval_condition("UNSURE", cx) == Tri::Maybe);
    CHECK(eval_condition("defined(UNSURE)", cx) == Tri::Maybe);
    CHECK(eval_condition("0 && UNSURE", cx) == Tri::False);
    CHECK(eval_condition("1 || UNSURE", cx) == Tri::True);
    CHECK(eval_condition("__has_builtin(__builtin_expect)", cx) == Tri::Maybe);
    CHECK(eval_condition("1 / 0", cx) == Tri::Maybe);
    CHECK(eval_condition("1.5", cx) == Tri::Maybe);
    m.undef("ONE", true);
    CHECK(eval_condition("defined ONE", cx) == Tri::False);
    // Hostile nesting: an answer (maybe), not a stack overflow.
    CHECK(eval_condition(std::string(100000, '(') + "1" + std::string(100000, ')'), cx) == Tri::Maybe);
    CHECK(eval_condition(std::string(100000, '!') + "1", cx) == Tri::Maybe);
    std::string q;
    for (int i = 0; i < 50000; ++i) q += "1 ? ";
    q += "1";
    for (int i = 0; i < 50000; ++i) q += " : 0";
    CHECK(eval_condition(q, cx) == Tri::Maybe);
    m.define("G(x) x", true);
    std::string nested;
    for (int i = 0; i < 20000; ++i) nested += "G(";
    nested += "1" + std::string(20000, ')');
    CHECK(eval_condition(nested, cx) == Tri::Maybe);
    CHECK(eval_condition("G(G(G(1)))", cx) == Tri::True);
    m.define("A B B B B B B B B B B", true);   // every level doubles: the budget stops it
    m.define("B C C C C C C C C C C", true);
    m.define("C D D D D D D D D D D", true);
    m.define("D E E E E E E E E E E", true);
    m.define("E 1 1 1 1 1 1 1 1 1 1", true);
    CHECK(eval_condition("A", cx) == Tri::Maybe);
  }
}

TEST_CASE("a macro table keeps its own copy of what it is given; pasted and stringized texts last the evaluation") {
  for (bool lazy : {false, true}) {
    INFO("lazy bodies: " << lazy);
    MacroTable m;
    m.set_lazy_bodies(lazy);
    std::string given = "A_NAME_LONGER_THAN_A_SMALL_STRING (40 + 2)";
    m.define(given, true);
    given.assign(given.size(), 'x');   // the caller's text changes: the table's copy does not
    std::string paste = "PASTE(a, b) a ## b";
    m.define(paste, true);
    paste.assign(paste.size(), '#');
    m.define("THE_VALUE_OF_A_PASTED_NAME_XY 7", true);
    m.define("STR(x) #x", true);
    auto cx = cx_of(m);
    CHECK(eval_condition("A_NAME_LONGER_THAN_A_SMALL_STRING == 42", cx) == Tri::True);
    CHECK(eval_condition("PASTE(THE_VALUE_OF_A_PASTED_NAME_, XY) == 7", cx) == Tri::True);
    CHECK(eval_condition("PASTE(NO_SUCH_, NAME_ANYWHERE_AT_ALL) == 0", cx) == Tri::True);
    CHECK(expand_include_operand("STR(a_header_name_longer_than_a_small_string.h)", cx) ==
          std::optional<std::string>("\"a_header_name_longer_than_a_small_string.h\""));
  }
}

TEST_CASE("#if binary operators have C's precedence") {
  MacroTable m;
  auto cx = cx_of(m);
  for (auto [expr, want] : std::initializer_list<std::pair<const char*, Tri>>{
           {"1 || 0 && 0", Tri::True}, {"(1 || 0) && 0", Tri::False}, {"6 | 1 ^ 7", Tri::True}, {"(6 | 1 ^ 7) == 6", Tri::True},
           {"(3 ^ 6 & 4) == 7", Tri::True}, {"(2 & 3 == 3) == 0", Tri::True}, {"1 != 2 == 1", Tri::True},
           {"(1 < 2 == 1) == 1", Tri::True}, {"3 >= 3 && 3 <= 3 && 4 > 3", Tri::True}, {"(1 << 2 + 1) == 8", Tri::True},
           {"(16 >> 1 - 1) == 16", Tri::True}, {"(1 + 2 * 3) == 7", Tri::True}, {"(7 - 4 / 2) == 5", Tri::True},
           {"(7 % 4 * 2) == 6", Tri::True}, {"1 -> 2", Tri::Maybe}, {"1 = 1", Tri::Maybe}, {"1 ++ 2", Tri::Maybe}}) {
    INFO(expr);
    CHECK(eval_condition(expr, cx) == want);
  }
}

TEST_CASE("a table over shared predefined macros changes only itself") {
  auto base = std::make_shared<MacroTable>();
  base->define("__GNUC__ 12", true);
  base->define("KEEP 1", true);
  MacroTable t(base);
  t.undef("__GNUC__", true);
  t.define("KEEP 2", true);
  t.define("NEW 3", true);
  auto cx = cx_of(t);
  CHECK(eval_condition("!defined(__GNUC__) && KEEP == 2 && NEW == 3", cx) == Tri::True);
  auto bx = cx_of(*base);
  CHECK(eval_condition("__GNUC__ == 12 && KEEP == 1 && !defined(NEW)", bx) == Tri::True);
}

TEST_CASE("tables over a base with lazy bodies expand the base's macros in their own copies") {
  auto base = std::make_shared<MacroTable>();
  base->set_lazy_bodies(true);   // as compiler_facts builds the shared predefined table
  base->define("SQ(x) ((x) * (x))", true);
  base->define("V 3", true);
  base->define("W V + 1", true);
  std::shared_ptr<const MacroTable> shared = base;
  MacroTable a(shared), b(shared);
  CHECK(eval_condition("SQ(V) == 9 && W == 4", cx_of(a)) == Tri::True);
  b.define("V 5", true);   // b's own V; W's body, from the base, expands through b's table
  CHECK(eval_condition("SQ(V) == 25 && W == 6", cx_of(b)) == Tri::True);
  CHECK(eval_condition("SQ(V) == 9 && W == 4", cx_of(a)) == Tri::True);
  REQUIRE(a.get("SQ") != nullptr);
  CHECK(a.get("SQ")->function);
  CHECK(a.get("SQ")->params == std::vector<std::string>{"x"});
  CHECK(a.get("SQ")->body.size() == 9);
  CHECK(eval_condition("SQ(V) == 9 && W == 4", cx_of(*base)) == Tri::True);
}

TEST_CASE("include guards are recognised only when they wrap the whole file") {
  CHECK(file_info("#ifndef G\n#define G\n#include <a.h>\n#endif\n").guard == "G");
  CHECK(file_info("#if !defined(G)\n#define G\n#endif\n").guard == "G");
  CHECK(file_info("#ifndef G\n#define G\n#endif\n#include <a.h>\n").guard.empty());
  CHECK(file_info("#ifndef G\n#define G\n#else\n#include <a.h>\n#endif\n").guard.empty());
}

TEST_CASE("the scan finds what gcc -M finds in a project with conditions, guards and include_next") {
  TempDir t("scan");
  std::string root = t.path.string();
  put(t.path / "src/a.c",
      "#include \"config.h\"\n"
      "#include \"local.h\"\n"
      "#include <lib/api.h>\n"
      "#if HAVE_FAST\n#include \"fast.h\"\n#else\n#include \"slow.h\"\n#endif\n"
      "#ifdef FROM_CMDLINE\n#include \"cmd.h\"\n#endif\n"
      "#if __has_include(\"maybe.h\")\n#include \"maybe.h\"\n#endif\n"
      "#if __has_include(\"absent.h\")\n#include \"absent.h\"\n#endif\n"
      "#define HDR \"computed.h\"\n#include HDR\n"
      "#include <stdio.h>\n"
      "int main(void) { return 0; }\n");
  put(t.path / "src/config.h", "#pragma once\n#define HAVE_FAST 1\n");
  put(t.path / "src/local.h", "#include \"config.h\"\n#include \"sub/inner.h\"\n");
  put(t.path / "src/sub/inner.h", "#include \"sibling.h\"\n");
  put(t.path / "src/sub/sibling.h", "\n");
  put(t.path / "inc/lib/api.h", "#ifndef API_H\n#define API_H\n#include_next <lib/api.h>\n#endif\n");
  put(t.path / "inc2/lib/api.h", "#ifndef API2_H\n#define API2_H\n#include <lib/api.h>\n#endif\n");
  put(t.path / "src/fast.h", "\n");
  put(t.path / "src/slow.h", "\n");
  put(t.path / "src/cmd.h", "\n");
  put(t.path / "src/maybe.h", "\n");
  put(t.path / "src/computed.h", "\n");
  auto b = scan_both({"gcc", "-Iinc", "-Iinc2", "-DFROM_CMDLINE", "-O2", "-c", "src/a.c", "-o", "a.o"}, "src/a.c", root,
                     false);
  INFO(b.r.gave_up);
  REQUIRE(b.r.gave_up.empty());
  CHECK(b.ours == b.gcc);
  CHECK(b.ours.count(root + "/src/slow.h") == 0);
  CHECK(b.ours.count(root + "/src/cmd.h") == 1);
}

TEST_CASE("one quoted name included from two folders is found in each includer's own folder") {
  TempDir t("scan");
  std::string root = t.path.string();
  put(t.path / "main.c", "#include \"one/a.h\"\n#include \"two/b.h\"\n#include \"one/c.h\"\n");
  put(t.path / "one/a.h", "#include \"cfg.h\"\n");
  put(t.path / "one/c.h", "#include \"cfg.h\"\n#include <cfg.h>\n");
  put(t.path / "one/cfg.h", "\n");
  put(t.path / "two/b.h", "#include \"cfg.h\"\n");
  put(t.path / "two/cfg.h", "#include \"deeper/cfg.h\"\n");
  put(t.path / "two/deeper/cfg.h", "\n");
  put(t.path / "inc/cfg.h", "\n");
  auto b = scan_both({"gcc", "-Iinc", "-c", "main.c"}, "main.c", root, false);
  INFO(b.r.gave_up);
  REQUIRE(b.r.gave_up.empty());
  CHECK(b.ours == b.gcc);
  CHECK(b.ours.count(root + "/one/cfg.h") == 1);
  CHECK(b.ours.count(root + "/two/cfg.h") == 1);
  CHECK(b.ours.count(root + "/two/deeper/cfg.h") == 1);
  CHECK(b.ours.count(root + "/inc/cfg.h") == 1);
}

TEST_CASE("the scan matches gcc -M on system headers (C and C++)") {
  TempDir t("scan");
  std::string root = t.path.string();
  put(t.path / "c.c",
      "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n#include <pthread.h>\n"
      "#include <stdint.h>\n#include <assert.h>\n#include <errno.h>\n#include <sys/stat.h>\n#include <fcntl.h>\n");
  put(t.path / "none.c", "int x;\n");
  put(t.path / "x.cc",
      "#include <iostream>\n#include <vector>\n#include <map>\n#include <memory>\n#include <string>\n"
      "#include <algorithm>\n#include <thread>\n#include <functional>\n#include <unordered_map>\n#include <regex>\n");
  for (auto [src, cxx, compiler, std] : {std::tuple{"c.c", false, "gcc", "-std=gnu11"}, std::tuple{"none.c", false, "gcc", "-O0"}, std::tuple{"x.cc", true, "g++", "-std=c++20"},
                                         std::tuple{"x.cc", true, "g++", "-std=c++11"}, std::tuple{"c.c", false, "clang", "-std=gnu11"},
                                         std::tuple{"x.cc", true, "clang++", "-std=c++17"}}) {
    auto b = scan_both({compiler, std, "-O2", "-pthread", "-c", src}, src, root, cxx);
    INFO(src << " " << std << ": " << b.r.gave_up);
    REQUIRE(b.r.gave_up.empty());
    std::vector<std::string> missing, extra;
    for (auto& p : b.gcc) if (!b.ours.count(p)) missing.push_back(p);
    for (auto& p : b.ours) if (!b.gcc.count(p)) extra.push_back(p);
    INFO("missing: " << missing.size() << (missing.empty() ? "" : " first " + missing[0]));
    INFO("extra: " << extra.size() << (extra.empty() ? "" : " first " + extra[0]));
    CHECK(missing.empty());   // never too small
    CHECK(extra.empty());     // and exact here
  }
}

TEST_CASE("the scan gives up on what it cannot follow") {
  TempDir t("scan");
  std::string root = t.path.string();
  put(t.path / "a.c", "#include NOT_DEFINED_ANYWHERE\n");
  put(t.path / "b.c", "#include \"missing.h\"\n");
  put(t.path / "c.c", "#if 1\n#error stop\n#endif\n");
  put(t.path / "d.c", "#if UNKNOWN_X\n#include \"missing.h\"\n#endif\n#ifdef UNKNOWN_Y\n#error fine\n#endif\n");
  ScanRequest req;
  req.cwd = root;
  DiskFiles files;
  for (auto [src, why] : {std::pair{"a.c", "computed #include"}, std::pair{"b.c", "not found"}, std::pair{"c.c", "#error"}}) {
    req.source = src;
    auto r = scan_includes(req, files);
    CHECK_THAT(r.gave_up, Catch::Contains(why));
  }
  req.source = "d.c";   // not on a path that is surely taken: nothing to give up for
  CHECK(scan_includes(req, files).gave_up.empty());
  // A header that is a FIFO (would block) or larger than any header: not read, the scan gives up.
  put(t.path / "e.c", "#include \"fifo.h\"\n");
  REQUIRE(::mkfifo((t.path / "fifo.h").c_str(), 0600) == 0);
  req.source = "e.c";
  CHECK_FALSE(scan_includes(req, files).gave_up.empty());
  put(t.path / "f.c", "#include \"huge.h\"\n");
  {
    std::FILE* f = std::fopen((t.path / "huge.h").c_str(), "w");
    REQUIRE(f);
    REQUIRE(::ftruncate(::fileno(f), (64ll << 20) + 1) == 0);
    std::fclose(f);
  }
  req.source = "f.c";
  CHECK_THAT(scan_includes(req, files).gave_up, Catch::Contains("cannot read"));
}

TEST_CASE("scan options split what the scan applies from what the compiler is asked") {
  auto o = scan_options({"g++", "-DA=1", "-U", "B", "-Iinc", "-isystem", "sys", "-include", "pre.h", "-O2", "-Wall", "-g",
                         "-c", "src/a.cc", "-o", "a.o", "-MD", "-MF", "a.d", "-std=c++20"},
                        "src/a.cc");
  CHECK(o.unsupported.empty());
  CHECK(o.command_macros == std::vector<std::pair<char, std::string>>{{'D', "A=1"}, {'U', "B"}});
  CHECK(o.forced_includes == std::vector<std::string>{"pre.h"});
  CHECK(o.user_dirs == std::vector<std::string>{"inc"});
  CHECK(o.probe_argv == std::vector<std::string>{"g++", "-Iinc", "-isystem", "sys", "-O2", "-std=c++20"});
  CHECK_FALSE(scan_options({"gcc", "-imacros", "m.h", "-c", "a.c"}, "a.c").unsupported.empty());
  CHECK(scan_options({"g++", "-c", "a.c"}).cplusplus);                  // a C++ driver compiles .c as C++
  CHECK_FALSE(scan_options({"gcc", "-c", "a.c"}).cplusplus);
  CHECK(scan_options({"gcc", "-x", "c++", "-c", "a.h"}).cplusplus);
  CHECK(scan_options({"gcc", "-o", "x.c", "-c", "a.c"}).source == "a.c");   // an option's value is not the source
  CHECK_FALSE(scan_options({"gcc", "-c", "a.c", "b.c"}).unsupported.empty());
  CHECK_FALSE(scan_options({"gcc", "-c", "a.s"}).unsupported.empty());
  auto f = decode_facts(encode_facts(CompilerFacts{SearchPath{{"q"}, {"b", "s"}, {false, true}}, {"X 1"}, {"/p.h"}, nullptr}));
  REQUIRE(f.ok());
  CHECK(f.value().paths.bracket_system == std::vector<bool>{false, true});
  CHECK(f.value().preincluded == std::vector<std::string>{"/p.h"});
  CHECK_FALSE(decode_facts("zbuild-scan-facts 1\nZ what\n").ok());
}

TEST_CASE("compiler facts are cached only in a folder no one else can write") {
  char tmpl[] = "/tmp/zbuild-facts-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string base = tmpl;
  auto files_in = [](const std::string& d) {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(d)) ++n;
    return n;
  };
  auto o = scan_options({"gcc", "-c", "x.c"}, "x.c");
  std::string open_dir = base + "/open";
  std::filesystem::create_directories(open_dir);
  std::filesystem::permissions(open_dir, std::filesystem::perms::all);
  REQUIRE(compiler_facts(o, base, "facts-open-dir", open_dir).ok());   // asked of the compiler
  CHECK(files_in(open_dir) == 0);                                      // and not written there
  std::string own = base + "/own";
  REQUIRE(compiler_facts(o, base, "facts-own-dir", own).ok());
  CHECK(files_in(own) == 1);
  CHECK((std::filesystem::status(own).permissions() & std::filesystem::perms::all) == std::filesystem::perms::owner_all);
  std::filesystem::remove_all(base);
}
