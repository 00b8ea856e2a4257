// The client's output side against hostile results and hostile trees: only declared outputs,
// no writing through a folder that is a link leading out of the root, a link at the output
// path replaced rather than followed; and RootGuard, which keeps inputs from leaving the root.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "client/outputs.h"
#include "common/fs.h"

using namespace zbuild;
using namespace zbuild::client;
namespace fs = std::filesystem;

namespace {

// A fresh folder holding `root/` (the exec root) and `outside/`, removed at scope exit.
struct Tree {
  fs::path base, root, outside;
  Tree() {
    std::string t = (fs::temp_directory_path() / "zbuild-outputs-test-XXXXXX").string();
    base = ::mkdtemp(t.data());
    root = base / "root";
    outside = base / "outside";
    fs::create_directories(root);
    fs::create_directories(outside);
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }
  static std::string read(const fs::path& p) {
    auto r = read_file(p);
    return r.ok() ? r.value() : std::string("<missing>");
  }
  // Names of the entries of a folder (temp files left behind show up here).
  static std::vector<std::string> names(const fs::path& dir) {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

graph::Task task(std::vector<std::string> outputs) {
  graph::Task t;
  t.id = "cc a";
  t.argv = {"gcc"};
  t.outputs = std::move(outputs);
  return t;
}

OutputSpec out(const std::string& path, const std::string& content = "x") {
  return OutputSpec{path, digest_bytes(content), false};
}

// A BlobChunk of the blob `content` as the daemon sends it (`part` of it at `offset`; all of
// it by default), kept alive by `buf`.
const wire::BlobChunk* chunk(std::string& buf, const std::string& content, uint64_t offset = 0,
                             const std::string* part = nullptr) {
  flatbuffers::FlatBufferBuilder fbb;
  auto d = proto::to_wire(digest_bytes(content));
  const std::string& bytes = part ? *part : content;
  auto data = fbb.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  fbb.Finish(wire::CreateBlobChunk(fbb, &d, offset, data));
  buf.assign(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  return flatbuffers::GetRoot<wire::BlobChunk>(buf.data());
}

}  // namespace

TEST_CASE("only the outputs a task declares may be written") {
  auto t = task({"obj/a.o", "obj/a.d"});
  CHECK(check_claimed_outputs(t, {out("obj/a.o"), out("obj/a.d")}).ok());
  CHECK(check_claimed_outputs(t, {}).ok());
  for (const char* bad : {"obj/b.o", "../outside/x", "/etc/passwd", "obj/./a.o", "obj//a.o", "", "."}) {
    INFO(bad);
    auto st = check_claimed_outputs(t, {out("obj/a.o"), out(bad)});
    REQUIRE_FALSE(st.ok());
    CHECK(contains(st.error().message, "task 'cc a': output"));
    CHECK(contains(st.error().message, "nothing of the task is written"));
  }
  auto st = check_claimed_outputs(t, {out("obj/b.o")});
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.error().message, "'obj/b.o'"));
}

TEST_CASE("the confined writer creates folders and writes below the root") {
  Tree tr;
  REQUIRE(write_file_under_root(tr.root, "obj/sub/a.o", "one").ok());
  CHECK(Tree::read(tr.root / "obj/sub/a.o") == "one");
  REQUIRE(write_file_under_root(tr.root, "obj/sub/a.o", "two", true).ok());
  CHECK(Tree::read(tr.root / "obj/sub/a.o") == "two");
  CHECK(is_executable_file(tr.root / "obj/sub/a.o"));
  CHECK(Tree::names(tr.root / "obj/sub") == std::vector<std::string>{"a.o"});
  CHECK_FALSE(write_file_under_root(tr.root, "../outside/x", "no").ok());
  CHECK_FALSE(write_file_under_root(tr.root, "/etc/x", "no").ok());
  CHECK_FALSE(write_file_under_root(tr.root, ".", "no").ok());
  CHECK(Tree::names(tr.outside).empty());
}

TEST_CASE("the confined writer refuses a folder that is a link leading out of the root") {
  Tree tr;
  fs::create_symlink(tr.outside, tr.root / "obj");
  auto st = write_file_under_root(tr.root, "obj/a.o", "evil");
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.error().message, "folder 'obj' is a symbolic link leading outside the root"));
  // Deeper, and a missing folder is not created through the link either.
  fs::create_directories(tr.root / "build");
  fs::create_symlink(tr.outside, tr.root / "build" / "out");
  CHECK_FALSE(write_file_under_root(tr.root, "build/out/new/a.o", "evil").ok());
  // A link to a folder that climbs back out through "..".
  fs::create_symlink("../../outside", tr.root / "build" / "up");
  CHECK_FALSE(write_file_under_root(tr.root, "build/up/a.o", "evil").ok());
  CHECK(Tree::names(tr.outside).empty());
}

TEST_CASE("the confined writer follows links that stay inside the root") {
  Tree tr;
  fs::create_directories(tr.root / "real" / "obj");
  fs::create_symlink(tr.root / "real", tr.root / "alias");
  fs::create_symlink("real/obj", tr.root / "objdir");
  REQUIRE(write_file_under_root(tr.root, "alias/obj/a.o", "one").ok());
  REQUIRE(write_file_under_root(tr.root, "objdir/b.o", "two").ok());
  CHECK(Tree::read(tr.root / "real/obj/a.o") == "one");
  CHECK(Tree::read(tr.root / "real/obj/b.o") == "two");
  // A root that is itself reached through a link is fine: its real path is what counts.
  fs::create_symlink(tr.root, tr.base / "root-link");
  REQUIRE(write_file_under_root(tr.base / "root-link", "c.o", "three").ok());
  CHECK(Tree::read(tr.root / "c.o") == "three");
}

TEST_CASE("a link at the output path is replaced, not written through") {
  Tree tr;
  REQUIRE(write_file_atomic(tr.outside / "victim", "precious").ok());
  fs::create_symlink(tr.outside / "victim", tr.root / "a.o");
  REQUIRE(write_file_under_root(tr.root, "a.o", "object").ok());
  CHECK_FALSE(fs::is_symlink(tr.root / "a.o"));
  CHECK(Tree::read(tr.root / "a.o") == "object");
  CHECK(Tree::read(tr.outside / "victim") == "precious");
  // The unconfined writer (metrics, traces: paths the user gave) replaces a link too.
  fs::create_symlink(tr.outside / "victim", tr.root / "metrics.json");
  REQUIRE(write_file_atomic(tr.root / "metrics.json", "{}").ok());
  CHECK(Tree::read(tr.outside / "victim") == "precious");
}

TEST_CASE("an unfinished write leaves no temp file behind") {
  Tree tr;
  {
    AtomicFileWriter w(tr.root, "obj/a.o", false);
    REQUIRE(w.open().ok());
    REQUIRE(w.append("half").ok());
  }
  CHECK(Tree::names(tr.root / "obj").empty());
}

TEST_CASE("RootGuard: inputs may not lead out of the root") {
  Tree tr;
  REQUIRE(write_file_atomic(tr.outside / "secret", "s").ok());
  fs::create_directories(tr.root / "src" / "real");
  REQUIRE(write_file_atomic(tr.root / "src" / "real" / "a.h", "a").ok());
  fs::create_symlink(tr.outside / "secret", tr.root / "src" / "leak.h");
  fs::create_symlink(tr.outside, tr.root / "inc");
  fs::create_symlink("real/a.h", tr.root / "src" / "alias.h");
  fs::create_symlink("real", tr.root / "src" / "dir");
  fs::create_symlink(tr.outside / "nothing", tr.root / "src" / "dangling.h");
  RootGuard g(tr.root);
  CHECK(g.check("src/real/a.h").ok());
  CHECK(g.check("src/alias.h").ok());
  CHECK(g.check("src/dir/a.h").ok());
  CHECK(g.check("src/missing.h").ok());
  CHECK(g.check("nowhere/at/all.h").ok());
  CHECK(g.check("src/dangling.h").ok());
  auto leak = g.check("src/leak.h");
  REQUIRE_FALSE(leak.ok());
  CHECK(contains(leak.error().message, "'src/leak.h' is a symbolic link leading outside the root"));
  CHECK(contains(leak.error().message, (tr.outside / "secret").string()));
  auto folder = g.check("inc/secret");
  REQUIRE_FALSE(folder.ok());
  CHECK(contains(folder.error().message, "'inc/secret': folder 'inc' leads outside the root"));
  CHECK_FALSE(g.check("inc/missing.h").ok());
  CHECK_FALSE(g.check_folder("inc/new/sub").ok());
  CHECK(g.check_folder("src/dir").ok());
  CHECK(g.check_folder("brand/new").ok());
  // A link deeper down, reached through a real folder or through a link that stays inside.
  fs::create_symlink(tr.outside, tr.root / "src" / "real" / "out");
  CHECK_FALSE(g.check("src/real/out/secret").ok());
  CHECK_FALSE(g.check("src/dir/out/secret").ok());
  CHECK_FALSE(g.check_folder("src/dir/out/new").ok());
  CHECK(g.check("src/real/a.h").ok());
  // A file where a folder is named: nothing below it to read.
  CHECK(g.check("src/real/a.h/x.h").ok());
}

TEST_CASE("the output writer refuses a declared output under a folder that leads out of the root") {
  Tree tr;
  fs::create_symlink(tr.outside, tr.root / "obj");
  std::vector<std::string> sent;
  OutputWriter w([&](const std::string& m) { sent.push_back(m); }, tr.root, 7);
  w.want("cc a", out("obj/a.o", "evil"));
  CHECK(sent.size() == 1);   // the BlobRequest
  std::string buf;
  auto st = w.on_chunk(chunk(buf, "evil"));
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.error().message, "task 'cc a': output 'obj/a.o'"));
  CHECK(contains(st.error().message, "symbolic link leading outside the root"));
  CHECK(w.idle());
  CHECK(Tree::names(tr.outside).empty());
}

TEST_CASE("the output writer writes every path of one blob and checks its digest") {
  Tree tr;
  std::vector<std::string> sent;
  OutputWriter w([&](const std::string& m) { sent.push_back(m); }, tr.root, 7);
  w.want("a", out("obj/a.o", "same"));
  w.want("b", out("lib/b.o", "same"));
  CHECK(sent.size() == 1);   // one fetch for one content
  std::string buf;
  REQUIRE(w.on_chunk(chunk(buf, "same")).ok());
  CHECK(w.idle());
  CHECK(w.files() == 2);
  CHECK(Tree::read(tr.root / "obj/a.o") == "same");
  CHECK(Tree::read(tr.root / "lib/b.o") == "same");
}

TEST_CASE("a path that asks for a blob already arriving gets it too") {
  Tree tr;
  std::vector<std::string> sent;
  OutputWriter w([&](const std::string& m) { sent.push_back(m); }, tr.root, 7);
  const std::string content = "abcdef", first = "abc", second = "def";
  w.want("a", out("a.o", content));
  std::string buf;
  REQUIRE(w.on_chunk(chunk(buf, content, 0, &first)).ok());
  w.want("b", out("b.o", content));   // while the blob is half there
  REQUIRE(w.on_chunk(chunk(buf, content, 3, &second)).ok());
  CHECK(Tree::read(tr.root / "a.o") == content);
  CHECK_FALSE(w.idle());              // b.o is fetched again
  REQUIRE(w.on_chunk(chunk(buf, content)).ok());
  CHECK(w.idle());
  CHECK(Tree::read(tr.root / "b.o") == content);
  CHECK(w.files() == 2);
}
