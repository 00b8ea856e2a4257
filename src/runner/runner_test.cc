// Unit tests of zbuild-cc's pieces: command-line analysis, the scan and remote commands, the
// manifest format, the host-file stat cache, daemon/root discovery and diagnostics mapping.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "common/owner.h"
#include "common/command_policy.h"
#include "common/loopback_port.h"
#include "common/temp_dir.h"
#include "runner/cmdline.h"
#include "runner/diagnostics.h"
#include "runner/discovery.h"
#include "runner/manifest.h"
#include "common/stat_cache.h"
#include "runner/zmtp.h"

using namespace zbuild;
using namespace zbuild::runner;
namespace fs = std::filesystem;

namespace {


Analysis an(std::vector<std::string> argv) { return analyze(argv, "/nonexistent"); }

}  // namespace

TEST_CASE("single-source compiles go remote, with their source, object and language") {
  auto a = an({"/usr/bin/g++", "-DX=1", "-I", "inc", "-isystem", "/opt/inc", "-O2", "-g", "-std=c++20", "-fPIC",
               "-Wall", "-c", "src/a.cc", "-o", "obj/a.o"});
  REQUIRE(a.remote);
  CHECK(a.compile.source == "src/a.cc");
  CHECK(a.compile.object == "obj/a.o");
  CHECK(a.compile.lang == Lang::Cxx);
  CHECK_FALSE(a.compile.deps.md);

  auto b = an({"gcc", "-c", "x.c"});
  REQUIRE(b.remote);
  CHECK(b.compile.object == "x.o");
  CHECK(b.compile.lang == Lang::C);

  auto x = an({"gcc", "-x", "c++", "-c", "weird.inc", "-ofoo.o"});
  REQUIRE(x.remote);
  CHECK(x.compile.lang == Lang::Cxx);
  CHECK(x.compile.object == "foo.o");
}

TEST_CASE("what zbuild-cc cannot ship runs locally") {
  for (auto argv : std::vector<std::vector<std::string>>{
           {"gcc", "a.o", "b.o", "-o", "prog"},                 // link
           {"gcc", "a.c", "-o", "prog"},                        // compile and link
           {"gcc", "-E", "a.c"},                                // preprocess only
           {"gcc", "-S", "-c", "a.c"},                          // assembly output
           {"gcc", "-M", "a.c"},                                // deps only
           {"gcc", "-c", "-"},                                  // stdin
           {"gcc", "-c", "a.c", "b.c"},                         // several sources
           {"gcc", "-c", "a.c", "--coverage"},                  // .gcno next to the object
           {"gcc", "-c", "a.c", "-fprofile-use=x.gcda"},        // profile data
           {"gcc", "-c", "a.c", "-gsplit-dwarf"},               // .dwo output
           {"gcc", "-c", "a.c", "-save-temps"},                 // temps
           {"gcc", "-c", "a.c", "-Wp,-MD,a.d"},                 // depfile through the preprocessor
           {"gcc", "-c", "a.s"},                                // not C/C++
           {"gcc", "-c", "a.c", "--weird"},                     // unknown option
           {"gcc", "-c", "a.c", "-MF", "a.d"},                  // -MF without -MD
           {"gcc", "-c", "a.c", "-o"},                          // missing value
       }) {
    INFO(argv.back());
    CHECK_FALSE(an(argv).remote);
  }
}

TEST_CASE("depfile options: gcc's default file and target, kept out of the remote command") {
  auto a = an({"gcc", "-c", "src/a.c", "-o", "obj/a.c.o", "-MMD", "-MP"});
  REQUIRE(a.remote);
  CHECK(a.compile.deps.md);
  CHECK_FALSE(a.compile.deps.system);
  CHECK(a.compile.deps.phony);
  CHECK(a.compile.depfile_path() == "obj/a.c.d");
  CHECK(an({"gcc", "-c", "src/a.c", "-MD"}).compile.depfile_path() == "a.d");
  CHECK(an({"gcc", "-c", "a.c", "-o", "out.dir/noext", "-MD"}).compile.depfile_path() == "out.dir/noext.d");

  auto cm = an({"/usr/bin/cc", "-DA", "-O2", "-MD", "-MT", "t.o", "-MF", "t.o.d", "-o", "t.o", "-c", "/s/a.c"});
  REQUIRE(cm.remote);
  CHECK(cm.compile.depfile_path() == "t.o.d");
  CHECK(cm.compile.remote_argv(false) ==
        std::vector<std::string>{"/usr/bin/cc", "-DA", "-O2", "-o", "t.o", "-c", "/s/a.c"});
  CHECK(cm.compile.remote_argv(true).back() == "-fdiagnostics-color=always");
  // One name for the object on the workers: the same compile into two objects is one action.
  CHECK(cm.compile.remote_argv_as(false, "o.o") ==
        std::vector<std::string>{"/usr/bin/cc", "-DA", "-O2", "-o", "o.o", "-c", "/s/a.c"});
  CHECK(an({"cc", "-c", "a.c", "-olib/a.o"}).compile.remote_argv_as(false, "o.o") ==
        std::vector<std::string>{"cc", "-c", "a.c", "-oo.o"});
  CHECK(an({"cc", "-c", "a.c", "-include", "-o", "-o", "x.o"}).compile.remote_argv_as(false, "o.o") ==
        std::vector<std::string>{"cc", "-c", "a.c", "-include", "-o", "-o", "o.o"});   // a value is not -o
  CHECK_FALSE(an({"cc", "-c", "a.c"}).compile.remote_argv_as(false, "o.o"));   // no -o: named after the source
  CHECK_FALSE(an({"clang", "-frecord-command-line", "-c", "a.c", "-o", "a.o"}).compile.remote_argv_as(false, "o.o"));
  CHECK_FALSE(an({"clang", "-grecord-command-line", "-c", "a.c", "-o", "a.o"}).compile.remote_argv_as(false, "o.o"));
  CHECK(cm.compile.scan_argv("/tmp/x.d") == std::vector<std::string>{"/usr/bin/cc", "-DA", "-O2", "/s/a.c", "-M",
                                                                      "-MT", "t.o", "-MF", "/tmp/x.d"});
  // -MMD: -MM for the depfile and -H for the system headers it leaves out; the default target
  // is the object, quoted as gcc quotes it.
  CHECK(a.compile.scan_argv("d") == std::vector<std::string>{"gcc", "src/a.c", "-MM", "-MP", "-MQ", "obj/a.c.o",
                                                              "-MF", "d", "-H"});
}

TEST_CASE("explicit colour choices are respected") {
  CHECK(an({"gcc", "-c", "a.c"}).compile.color_auto);
  CHECK_FALSE(an({"gcc", "-fdiagnostics-color=always", "-c", "a.c"}).compile.color_auto);
  CHECK_FALSE(an({"gcc", "-fno-diagnostics-color", "-c", "a.c"}).compile.color_auto);
}

TEST_CASE("response files expand like gcc's") {
  TempDir t;
  REQUIRE(write_file_atomic(t.path / "r1", "-DA='x y' \"-I dir\" @r2\n-c").ok());
  REQUIRE(write_file_atomic(t.path / "r2", "a\\ b.c").ok());
  auto r = cmd::expand_response_files({"gcc", "@r1", "@missing"}, t.path.string());
  REQUIRE(r.ok());
  CHECK(r.value() == std::vector<std::string>{"gcc", "-DA=x y", "-I dir", "a b.c", "-c", "@missing"});
  REQUIRE(write_file_atomic(t.path / "loop", "@loop").ok());
  CHECK_FALSE(cmd::expand_response_files({"gcc", "@loop"}, t.path.string()).ok());
}

TEST_CASE("gcc -H output lists every header") {
  std::string err =
      ". /usr/include/stdio.h\n.. /usr/include/features.h\nwarning: something\n"
      "Multiple include guards may be useful for:\n/usr/include/x.h\n";
  CHECK(parse_dash_h(err) == std::vector<std::string>{"/usr/include/stdio.h", "/usr/include/features.h"});
}

TEST_CASE("depfile inputs: the first rule only, -MP's phony rules left out") {
  CHECK(depfile_inputs("obj/a.o: src/a.c include/x\\ y.h \\\n include/z.h\ninclude/x\\ y.h:\n\ninclude/z.h:\n") ==
        std::vector<std::string>{"src/a.c", "include/x y.h", "include/z.h"});
  CHECK(depfile_inputs("t1 t2: a.c\n") == std::vector<std::string>{"a.c"});
}

TEST_CASE("manifest round trip, with and without a depfile, several records") {
  Manifest m;
  m.files.push_back({'R', "src/a.c", digest_bytes("a")});
  m.files.push_back({'H', "/usr/include/stdio.h", digest_bytes("stdio")});
  m.has_depfile = true;
  m.depfile = "a.o: src/a.c \\\n /usr/include/stdio.h\n\nodd: D 3\nM 5\n";
  m.object = digest_bytes("object");
  Manifest plain = m;
  plain.has_depfile = false;
  plain.depfile.clear();
  plain.files[0].digest = digest_bytes("a, edited");
  auto back = decode_manifest(encode_manifest({m, plain}));
  REQUIRE(back.ok());
  REQUIRE(back.value().size() == 2);
  CHECK(back.value()[0].object == digest_bytes("object"));
  CHECK(back.value()[0].files == m.files);
  CHECK(back.value()[0].depfile == m.depfile);
  CHECK_FALSE(back.value()[1].has_depfile);
  CHECK(back.value()[1].files == plain.files);
  // Version 1: one record's lines after the magic.
  auto v1 = decode_manifest("zbuild-cc-manifest 1\nR " + digest_bytes("a").str() + " src/a.c\nD 3\nxyz");
  REQUIRE(v1.ok());
  REQUIRE(v1.value().size() == 1);
  CHECK(v1.value()[0].depfile == "xyz");
  CHECK_FALSE(decode_manifest("zbuild-manifest 1\n").ok());
  CHECK_FALSE(decode_manifest("zbuild-cc-manifest 1\nX 1 y\n").ok());
  CHECK_FALSE(decode_manifest("zbuild-cc-manifest 1\nD 10\nshort").ok());
  CHECK_FALSE(decode_manifest("zbuild-cc-manifest 2\nM 99\nshort").ok());
  CHECK_FALSE(decode_manifest("zbuild-cc-manifest 2\nR x y\n").ok());
}

TEST_CASE("manifest records: newest first, one per set of files, at most kManifestRecords") {
  auto rec = [](const std::string& v, const std::string& obj) {
    Manifest m;
    m.files.push_back({'R', "a.h", digest_bytes(v)});
    m.object = digest_bytes(obj);
    return m;
  };
  std::vector<Manifest> known;
  known = add_manifest_record(rec("v1", "o1"), known);
  known = add_manifest_record(rec("v2", "o2"), known);
  known = add_manifest_record(rec("v1", "o1b"), known);   // v1 again: moves to the front, replaced
  REQUIRE(known.size() == 2);
  CHECK(known[0].object == digest_bytes("o1b"));
  CHECK(known[1].files == rec("v2", "").files);
  for (int i = 0; i < 20; ++i) known = add_manifest_record(rec("w" + std::to_string(i), "o"), known);
  CHECK(known.size() == kManifestRecords);
}

TEST_CASE("stat cache: reused while the file is unchanged, rehashed after a change") {
  TempDir t;
  std::string f = (t.path / "h.h").string();
  std::string cache = (t.path / "cache" / "hoststat").string();
  REQUIRE(write_file_atomic(f, "one").ok());
  {
    StatCache s(cache);
    s.set_min_age_ns(0);
    REQUIRE(s.digest(f).value() == digest_bytes("one"));
    CHECK(s.hashed() == 1);
    s.flush();
  }
  {
    StatCache s(cache);
    REQUIRE(s.digest(f).value() == digest_bytes("one"));
    CHECK(s.hits() == 1);
    CHECK(s.hashed() == 0);
  }
  REQUIRE(write_file_atomic(f, "two!").ok());   // new inode, size, times
  {
    StatCache s(cache);
    CHECK(s.digest(f).value() == digest_bytes("two!"));
    CHECK(s.hits() == 0);
  }
  {
    StatCache young(cache);   // the default minimum age keeps a just-written file out
    REQUIRE(young.digest(f).ok());
    young.flush();
    StatCache again(cache);
    REQUIRE(again.digest(f).ok());
    CHECK(again.hits() == 0);
  }
  // A garbled cache file is ignored, never trusted.
  REQUIRE(write_file_atomic(cache, "zbuild-hoststat 1\n1 2 3\nnot a line\n").ok());
  StatCache s(cache);
  CHECK(s.digest(f).value() == digest_bytes("two!"));
}

TEST_CASE("stat cache: a caller's own stat of the file stands in for the cache's, and a stale one is a rehash") {
  TempDir t;
  std::string f = (t.path / "h.h").string();
  std::string cache = (t.path / "cache" / "hoststat").string();
  REQUIRE(write_file_atomic(f, "one").ok());
  auto stamp_of = [&] {
    struct stat st {};
    REQUIRE(::stat(f.c_str(), &st) == 0);
    return StatCache::Entry{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                            static_cast<uint64_t>(st.st_size),
                            int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                            int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec, Digest{}};
  };
  {
    StatCache s(cache);
    s.set_min_age_ns(0);
    REQUIRE(s.digest_stamped(f, stamp_of()).value() == digest_bytes("one"));
    CHECK(s.hashed() == 1);
    s.flush();
  }
  auto seen = stamp_of();
  {
    StatCache s(cache);
    CHECK(s.digest_stamped(f, seen).value() == digest_bytes("one"));
    CHECK(s.hits() == 1);
  }
  // Stamps that are not the remembered ones (another size): hashed again, not answered from the cache.
  StatCache::Entry other = seen;
  other.size += 1;
  StatCache s(cache);
  CHECK(s.digest_stamped(f, other).value() == digest_bytes("one"));
  CHECK(s.hits() == 0);
  CHECK(s.hashed() == 1);
}

TEST_CASE("stat cache: a file or folder others can write is never read; the file is replaced") {
  TempDir t;
  std::string f = (t.path / "h.h").string();
  std::string dir = (t.path / "cache").string();
  std::string cache = dir + "/hoststat";
  REQUIRE(write_file_atomic(f, "one").ok());
  auto learn = [&] {
    StatCache s(cache);
    s.set_min_age_ns(0);
    REQUIRE(s.digest(f).ok());
    s.flush();
    return s.hits();
  };
  auto hits = [&] {
    StatCache s(cache);
    REQUIRE(s.digest(f).value() == digest_bytes("one"));
    return s.hits();
  };
  learn();
  REQUIRE(hits() == 1);
  // Open to others: not read, and the next flush puts this user's own file in its place.
  REQUIRE(::chmod(cache.c_str(), 0666) == 0);
  CHECK(hits() == 0);
  CHECK(learn() == 0);
  struct stat st {};
  REQUIRE(::stat(cache.c_str(), &st) == 0);
  CHECK((st.st_mode & 022) == 0);
  CHECK(hits() == 1);
  // A folder others can write: the cache is off (nothing read, nothing written).
  REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  CHECK(hits() == 0);
  std::filesystem::remove(cache);
  learn();
  CHECK_FALSE(std::filesystem::exists(cache));
}

TEST_CASE("stat cache: a sorted section searched in place, a tail appended, compaction") {
  TempDir t;
  std::string cache = (t.path / "hoststat").string();
  std::vector<std::string> files;
  for (int i = 0; i < 700; ++i) {   // ~90 KiB of lines: more than one tail's worth
    files.push_back((t.path / ("header-" + std::to_string(i * 7919 % 1000) + ".h")).string());
    REQUIRE(write_file_atomic(files.back(), "content " + std::to_string(i)).ok());
  }
  {
    StatCache s(cache);
    s.set_min_age_ns(0);
    for (auto& f : files) REQUIRE(s.digest(f).ok());
    s.flush();   // past the tail limit: written sorted
  }
  auto text = read_file(cache);
  REQUIRE(text.ok());
  CHECK(text.value().rfind("zbuild-hoststat 1 " + std::string(12 - std::to_string(text.value().size()).size(), '0') +
                               std::to_string(text.value().size()) + "\n",
                           0) == 0);
  {
    StatCache s(cache);
    for (size_t i = 0; i < files.size(); ++i) CHECK(s.digest(files[i]).value() == digest_bytes("content " + std::to_string(i)));
    CHECK(s.hits() == files.size());
  }
  REQUIRE(write_file_atomic(files[5], "changed").ok());
  {
    StatCache s(cache);
    s.set_min_age_ns(0);
    CHECK(s.digest(files[5]).value() == digest_bytes("changed"));
    CHECK(s.hashed() == 1);
    s.flush();   // appended to the tail
  }
  StatCache s(cache);
  CHECK(s.digest(files[5]).value() == digest_bytes("changed"));
  CHECK(s.digest(files[6]).value() == digest_bytes("content 6"));
  CHECK(s.hits() == 2);
  CHECK(s.digest((t.path / "not-there.h").string()).ok() == false);
}

TEST_CASE("daemon discovery: environment, workspace file, default; exec root") {
  TempDir t;
  fs::create_directories(t.path / "proj" / "build" / "sub");
  std::string proj = (t.path / "proj").string();
  ::unsetenv("ZBUILD_DAEMON");
  ::unsetenv("ZBUILD_ROOT");
  ::setenv("XDG_CONFIG_HOME", (t.path / "config").c_str(), 1);
  auto none = find_daemon((t.path / "proj" / "build" / "sub").string());
  CHECK(none.daemon == "127.0.0.1:7600");
  CHECK(none.workspace.empty());
  fs::create_directories(t.path / "config" / "zbuild");
  REQUIRE(write_file_atomic(t.path / "config" / "zbuild" / "daemon", "127.0.0.1:9000\n").ok());
  CHECK(find_daemon(proj).daemon == "127.0.0.1:9000");
  REQUIRE(write_file_atomic(t.path / "proj" / kWorkspaceFile, "127.0.0.1:7700\n").ok());
  auto ws = find_daemon((t.path / "proj" / "build" / "sub").string());
  CHECK(ws.daemon == "127.0.0.1:7700");
  CHECK(ws.workspace == proj);
  CHECK(choose_root(ws, {"/elsewhere"}) == proj);
  ::setenv("ZBUILD_DAEMON", "127.0.0.1:7800", 1);
  auto env = find_daemon(proj + "/build");
  CHECK(env.daemon == "127.0.0.1:7800");
  CHECK(env.workspace == proj);
  ::unsetenv("ZBUILD_DAEMON");
  Location bare;
  CHECK(choose_root(bare, {"/a/b/build", "/a/b/src/x.c", "/a/b/build/x.o"}) == "/a/b");
  CHECK(choose_root(bare, {"/a/build", "/b/x.c"}).empty());
  ::setenv("ZBUILD_ROOT", "/r/", 1);
  CHECK(choose_root(bare, {"/a"}) == "/r");
  ::unsetenv("ZBUILD_ROOT");
  ::unsetenv("XDG_CONFIG_HOME");
}

TEST_CASE("options that run another program or load code are never shipped") {
  TempDir t;
  REQUIRE(write_file_atomic(t.path / "evil.rsp", "-wrapper /bin/sh,-c,id").ok());
  REQUIRE(write_file_atomic(t.path / "plugin.rsp", "-O2 @evil2.rsp").ok());
  REQUIRE(write_file_atomic(t.path / "evil2.rsp", "-fplugin=./x.so").ok());
  for (auto argv : std::vector<std::vector<std::string>>{
           {"gcc", "-c", "a.c", "-wrapper", "/bin/sh,-c,id"},
           {"gcc", "-c", "a.c", "-B/tmp/evil"},
           {"gcc", "-c", "a.c", "-fplugin=x.so"},
           {"gcc", "-c", "a.c", "-specs=x.specs"},
           {"gcc", "-c", "a.c", "-Wl,-plugin=x.so"},
           {"gcc", "-c", "a.c", "-Xclang", "-load", "-Xclang", "x.so"},
           {"gcc", "-c", "a.c", "-mllvm", "-load=x.so"},
           {"gcc", "-c", "a.c", "--gcc-toolchain=/tmp/tc"},
           {"gcc", "-c", "a.c", "@evil.rsp"},
           {"gcc", "-c", "a.c", "@plugin.rsp"},
       }) {
    INFO(argv.back());
    auto a = analyze(argv, t.path.string());
    CHECK_FALSE(a.remote);
    CHECK_FALSE(a.why_local.empty());
  }
  CHECK(analyze({"gcc", "-c", "a.c", "-O2"}, t.path.string()).remote);
}

TEST_CASE("a workspace file anyone else could have written is ignored") {
  TempDir t;
  fs::create_directories(t.path / "proj" / "build");
  fs::create_directories(t.path / "config" / "zbuild");
  std::string proj = (t.path / "proj").string();
  std::string build = (t.path / "proj" / "build").string();
  ::unsetenv("ZBUILD_DAEMON");
  ::unsetenv("ZBUILD_ROOT");
  ::setenv("XDG_CONFIG_HOME", (t.path / "config").c_str(), 1);
  REQUIRE(write_file_atomic(t.path / "config" / "zbuild" / "daemon", "127.0.0.1:9000\n").ok());
  fs::path file = t.path / "proj" / kWorkspaceFile;
  REQUIRE(write_file_atomic(file, "127.0.0.1:7700\n").ok());
  ::chmod(file.c_str(), 0644);
  ::chmod(proj.c_str(), 0755);
  ::chmod(build.c_str(), 0755);
  auto trusted = find_daemon(build);
  CHECK(trusted.daemon == "127.0.0.1:7700");
  CHECK(trusted.workspace == proj);
  CHECK(trusted.ignored.empty());

  // The file's own folder writable by others (sticky or not): ignored, said why, and the
  // search goes on to the config file. Its workspace is not the exec root either.
  for (mode_t mode : {0777, 01777}) {
    INFO(mode);
    ::chmod(proj.c_str(), mode);
    auto loc = find_daemon(build);
    CHECK(loc.daemon == "127.0.0.1:9000");
    CHECK(loc.workspace.empty());
    CHECK(loc.ignored.find(file.string()) != std::string::npos);
    CHECK(loc.ignored.find("the folder " + proj + " is writable by other users") != std::string::npos);
  }
  // Writable by its group: trusted only when the group is the user's private group (umask 002).
  struct stat pst {};
  REQUIRE(::stat(proj.c_str(), &pst) == 0);
  ::chmod(proj.c_str(), 0775);
  CHECK((find_daemon(build).daemon == "127.0.0.1:7700") == zbuild::private_group(pst.st_gid));
  if (::geteuid() == 0) {   // a group shared with others (nogroup here): never
    REQUIRE(::chown(proj.c_str(), 0, 65534) == 0);
    CHECK_FALSE(zbuild::private_group(65534));
    auto shared = find_daemon(build);
    CHECK(shared.daemon == "127.0.0.1:9000");
    CHECK(shared.ignored.find("the folder " + proj + " is writable by other users") != std::string::npos);
    REQUIRE(::chown(proj.c_str(), 0, pst.st_gid) == 0);
  }
  ::chmod(proj.c_str(), 0755);
  // A folder between the working directory and the file's.
  ::chmod(build.c_str(), 0777);
  CHECK(find_daemon(build).daemon == "127.0.0.1:9000");
  CHECK(find_daemon(build).ignored.find("the folder " + build) != std::string::npos);
  ::chmod(build.c_str(), 0755);
  // The file itself writable by others; by its group only when that is not the user's own.
  ::chmod(file.c_str(), 0666);
  auto writable = find_daemon(build);
  CHECK(writable.daemon == "127.0.0.1:9000");
  CHECK(writable.ignored.find("it is writable by other users") != std::string::npos);
  ::chmod(file.c_str(), 0664);
  struct stat fst {};
  REQUIRE(::stat(file.c_str(), &fst) == 0);
  CHECK((find_daemon(build).daemon == "127.0.0.1:7700") == zbuild::private_group(fst.st_gid));
  ::chmod(file.c_str(), 0644);
  CHECK(find_daemon(build).daemon == "127.0.0.1:7700");

  // An untrusted file nearer the working directory does not hide a trusted one further up.
  fs::path near = t.path / "proj" / "build" / kWorkspaceFile;
  REQUIRE(write_file_atomic(near, "127.0.0.1:6666\n").ok());
  ::chmod(near.c_str(), 0666);
  auto up = find_daemon(build);
  CHECK(up.daemon == "127.0.0.1:7700");
  CHECK(up.ignored.find(near.string()) != std::string::npos);
  ::unsetenv("XDG_CONFIG_HOME");

  // Ownership: the user's or root's only (the rule, with made-up owners).
  struct stat st {};
  st.st_mode = S_IFREG | 0644;
  st.st_uid = 1000;
  CHECK(workspace_file_distrust(st, 1000, "").empty());
  CHECK(workspace_file_distrust(st, 1001, "").find("belongs to user id 1000") != std::string::npos);
  st.st_uid = 0;
  CHECK(workspace_file_distrust(st, 1001, "").empty());
  st.st_mode = S_IFREG | 0646;
  CHECK_FALSE(workspace_file_distrust(st, 0, "").empty());
  st.st_mode = S_IFREG | 0644;
  CHECK_FALSE(workspace_file_distrust(st, 0, "/tmp").empty());
}

TEST_CASE("sandbox paths in diagnostics become the exec root again") {
  std::string root = "/home/u/proj";
  std::string err =
      "In file included from /w/sandbox/7/src/a.c:1:\n"
      "/w/sandbox/7/include/h.h:3:5: error: \xe2\x80\x98y\xe2\x80\x99 undeclared\n"
      "\x1b[01m\x1b[K/w/sandbox/7/src/a.c:2:1:\x1b[m\x1b[K note: here\n"
      "/usr/include/stdio.h:1: note: system header\n";
  std::vector<std::string> rels{"src/a.c", "include/h.h", "build/a.o"};
  std::vector<std::string> hosts{"/usr/include/stdio.h", "/usr/bin/gcc"};
  std::string prefix = find_sandbox_prefix(err, root, rels, hosts);
  CHECK(prefix == "/w/sandbox/7");
  std::string fixed = replace_prefix(err, prefix, root);
  CHECK(fixed.find("/w/sandbox") == std::string::npos);
  CHECK(fixed.find("In file included from /home/u/proj/src/a.c:1:") != std::string::npos);
  CHECK(fixed.find("\x1b[K/home/u/proj/src/a.c:2:1:") != std::string::npos);
  CHECK(fixed.find("/usr/include/stdio.h:1:") != std::string::npos);
  // Output that already names the root, or only host files, is left alone.
  CHECK(find_sandbox_prefix("/home/u/proj/src/a.c:1: warning\n", root, rels, hosts).empty());
  CHECK(find_sandbox_prefix("/usr/include/h.h:1: warning\n", root, {"include/h.h"}, {"/usr/include/h.h"}).empty());
  // The longest input path decides: "/a.c" must not cut "/S/src/a.c" at "/S/src".
  CHECK(find_sandbox_prefix("/S/src/a.c:1: e\n", root, {"a.c", "src/a.c"}, {}) == "/S");
  CHECK(replace_prefix("/Sx/a /S/a /S", "/S", "/R") == "/Sx/a /R/a /R");
}

TEST_CASE("ZMTP dealer: handshake, short and long frames, multipart, PING") {
  LoopbackPort listener;
  int ls = listener.fd();
  REQUIRE(::listen(ls, 1) == 0);
  int port = listener.port();
  std::string got_from_client;
  // A scripted peer: greeting, READY, then frames the way a ROUTER sends them.
  std::thread peer([&] {
    int c = ::accept(ls, nullptr, nullptr);
    std::string g(64, '\0');
    g[0] = static_cast<char>(0xff);
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 1;
    g.replace(12, 4, "NULL");
    std::string ready = std::string("\x05READY\x0bSocket-Type") + std::string("\0\0\0\x06", 4) + "ROUTER";
    std::string out = g + "\x04" + static_cast<char>(ready.size()) + ready;
    out += std::string("\x00\x05hello", 7);                       // short frame
    std::string big(300, 'b');
    out += std::string("\x02\0\0\0\0\0\0\x01\x2c", 9) + big;  // long frame (300 bytes)
    out += std::string("\x01\x03one", 5) + std::string("\x00\x03two", 5);   // multipart: last frame kept
    out += std::string("\x04\x07\x04PING\0\x0a", 9);               // PING with TTL, empty context
    out += std::string("\x00\x04last", 6);
    (void)::send(c, out.data(), out.size(), 0);
    char buf[4096];
    for (;;) {   // everything the client sends, until it closes
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      got_from_client.append(buf, static_cast<size_t>(n));
    }
    ::close(c);
  });
  {
    ZmtpDealer d;
    Address addr{"127.0.0.1", port, "", ""};
    REQUIRE(d.connect(addr, port, 2000, "first").ok());
    auto m1 = d.recv(2000);
    REQUIRE(m1.ok());
    REQUIRE(m1.value());
    CHECK(*m1.value() == "hello");
    auto m2 = d.recv(2000);
    REQUIRE(m2.ok());
    CHECK(m2.value()->size() == 300);
    auto m3 = d.recv(2000);
    CHECK(*m3.value() == "two");
    auto m4 = d.recv(2000);   // the PING is answered and skipped
    CHECK(*m4.value() == "last");
    auto m5 = d.recv(50);     // nothing more: a timeout, not an error
    REQUIRE(m5.ok());
    CHECK_FALSE(m5.value());
  }
  peer.join();
  CHECK(got_from_client.substr(0, 1) == "\xff");
  CHECK(got_from_client.find("DEALER") != std::string::npos);
  CHECK(got_from_client.find(std::string("\x00\x05" "first", 7)) != std::string::npos);
  CHECK(got_from_client.find("\x04PONG") != std::string::npos);
  ZmtpDealer refused;
  CHECK_FALSE(refused.connect(Address{"127.0.0.1", port, "", ""}, port, 2000).ok());
}
