// One contract, run against every backend (memory, RocksDB, Redis), plus backend specifics:
// RocksDB reopen/locking/format, Redis pieces/reconnect/format/unreachable. The Redis cases
// start their own redis-server on a Unix socket in their folder and stop it by pid.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include "common/clock.h"
#include "common/loopback_port.h"
#include "common/temp_dir.h"
#include "store/store.h"
#include "store/testing.h"

extern char** environ;

namespace zbuild::store {
namespace {

namespace fs = std::filesystem;
using SteadyTime = std::chrono::steady_clock;

template <class T>
T must(Result<T> r) {
  if (!r.ok()) FAIL("unexpected error: " << r.error().message);
  return std::move(r).value();
}

void must(Status s) {
  if (!s.ok()) FAIL("unexpected error: " << s.error().message);
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}


// ---------------------------------------------------------------------------------------
// The contract every backend meets.

struct Traits {
  bool counts_actions = true;  // every backend counts them today
};

void check_store_contract(Store& s, Traits traits = {}) {
  const StoreStats before = s.stats();
  CHECK_FALSE(before.backend.empty());

  // Absent keys read as nullopt / missing.
  const std::string absent_data = "never stored";
  const Digest absent = digest_bytes(absent_data);
  CHECK_FALSE(must(s.has_blob(absent)));
  CHECK_FALSE(must(s.get_blob(absent)).has_value());
  CHECK_FALSE(must(s.get_action(absent)).has_value());
  CHECK_FALSE(must(s.get_meta("no such meta key")).has_value());
  const Digest absent_big{0x1234, 0x5678, 5u << 20};  // pieced size on Redis
  CHECK_FALSE(must(s.has_blob(absent_big)));
  CHECK_FALSE(must(s.get_blob(absent_big)).has_value());

  // Small blobs, including binary and empty ones.
  const std::string hello = "hello, store";
  const std::string binary("a\0b\0\xff\x01", 6);
  const std::string empty;
  for (const std::string* data : {&hello, &binary, &empty}) {
    const Digest d = digest_bytes(*data);
    must(s.put_blob(d, *data));
    CHECK(must(s.has_blob(d)));
    auto got = must(s.get_blob(d));
    REQUIRE(got.has_value());
    CHECK(*got == *data);
  }
  // Writing the same blob twice is harmless.
  must(s.put_blob(digest_bytes(hello), hello));
  CHECK(*must(s.get_blob(digest_bytes(hello))) == hello);

  // Sizes around the interesting boundaries: RocksDB's 64 KiB blob-file threshold, Redis's
  // 1 MiB pieces, and a 5 MiB blob.
  std::vector<Digest> stored;
  uint32_t seed = 1;
  for (size_t size : {size_t{64 << 10}, size_t{(64 << 10) + 1}, size_t{1 << 20}, size_t{(1 << 20) + 1},
                      size_t{(2 << 20) + 17}, size_t{5 << 20}}) {
    INFO("blob size " << size);
    const std::string data = random_bytes(size, seed++);
    const Digest d = digest_bytes(data);
    must(s.put_blob(d, data));
    CHECK(must(s.has_blob(d)));
    auto got = must(s.get_blob(d));
    REQUIRE(got.has_value());
    CHECK(got->size() == data.size());
    CHECK(*got == data);
    stored.push_back(d);
  }

  // missing_blobs: the absent subset, in input order.
  const Digest absent2 = digest_bytes("also never stored");
  std::vector<Digest> query = {stored[0], absent, digest_bytes(hello), absent_big, stored.back(), absent2,
                               digest_bytes(empty)};
  CHECK(must(s.missing_blobs(query)) == std::vector<Digest>{absent, absent_big, absent2});
  CHECK(must(s.missing_blobs({})).empty());
  CHECK(must(s.missing_blobs(stored)).empty());

  // Action cache: put, get, overwrite.
  const Digest action = digest_bytes("action key 1");
  must(s.put_action(action, "result v1"));
  CHECK(*must(s.get_action(action)) == "result v1");
  must(s.put_action(action, std::string("result\0v2", 9)));
  CHECK(*must(s.get_action(action)) == std::string("result\0v2", 9));
  must(s.put_action(digest_bytes("action key 2"), ""));
  CHECK(*must(s.get_action(digest_bytes("action key 2"))) == "");
  // The action cache and CAS are separate keyspaces.
  CHECK_FALSE(must(s.get_blob(action)).has_value());
  CHECK_FALSE(must(s.get_action(digest_bytes(hello))).has_value());

  // Metadata.
  must(s.put_meta("manifest:src/a.cc", "x.h y.h"));
  CHECK(*must(s.get_meta("manifest:src/a.cc")) == "x.h y.h");
  must(s.put_meta("manifest:src/a.cc", "z.h"));
  CHECK(*must(s.get_meta("manifest:src/a.cc")) == "z.h");
  must(s.put_meta("format", "user value"));  // user keys cannot clobber the format marker
  CHECK(*must(s.get_meta("format")) == "user value");

  // Stats are approximate, but they grow.
  const StoreStats after = s.stats();
  CHECK(after.backend == before.backend);
  CHECK(after.blob_count > before.blob_count);
  CHECK(after.blob_bytes > before.blob_bytes);
  if (traits.counts_actions) CHECK(after.action_count > before.action_count);
}

// ---------------------------------------------------------------------------------------
// Memory

TEST_CASE("memory store meets the store contract", "[store][memory]") {
  auto s = make_memory_store();
  check_store_contract(*s);
  CHECK(s->stats().backend == "memory");
  CHECK(s->stats().blob_count == 9);
  CHECK(s->stats().action_count == 2);
  auto via_spec = must(open_store("memory"));
  CHECK(via_spec->stats().backend == "memory");
}

// ---------------------------------------------------------------------------------------
// Write-behind (the daemon's writes off its event loop)

// A memory store that records the order of the writes it is given.
class RecordingStore final : public Store {
 public:
  std::vector<std::string> log;
  std::unique_ptr<Store> mem = make_memory_store();
  Result<bool> has_blob(const Digest& d) override { return mem->has_blob(d); }
  Status put_blob(const Digest& d, std::string_view v) override {
    log.push_back("blob " + d.str());
    return mem->put_blob(d, v);
  }
  Result<std::optional<std::string>> get_blob(const Digest& d) override { return mem->get_blob(d); }
  Status put_action(const Digest& k, std::string_view v) override {
    log.push_back("action " + std::string(v));
    return mem->put_action(k, v);
  }
  Result<std::optional<std::string>> get_action(const Digest& k) override { return mem->get_action(k); }
  Status put_meta(std::string_view k, std::string_view v) override { return mem->put_meta(k, v); }
  Result<std::optional<std::string>> get_meta(std::string_view k) override { return mem->get_meta(k); }
  StoreStats stats() override { return mem->stats(); }
};

TEST_CASE("write-behind store meets the store contract over memory and RocksDB", "[store][behind]") {
  auto m = make_write_behind_store(make_memory_store(), 64 << 20, nullptr);
  check_store_contract(*m);
  TempDir tmp;
  auto r = make_write_behind_store(must(open_rocksdb_store((tmp.path / "cache").string())), 1 << 20, nullptr);
  check_store_contract(*r);   // a 1 MiB queue: the 5 MiB blob goes alone
  // Results queued like the rest (the daemon's way): reads see them all the same.
  auto q = make_write_behind_store(make_memory_store(), 64 << 20, nullptr, ResultWrites::kQueue);
  check_store_contract(*q);
}

TEST_CASE("write-behind store writes everything queued when it closes, each result after its blobs",
          "[store][behind]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  std::vector<Digest> blobs;
  {
    auto s = make_write_behind_store(must(open_rocksdb_store(dir)), 4096, nullptr);
    for (int i = 0; i < 300; ++i) {
      std::string data = random_bytes(1000, static_cast<uint32_t>(i));
      blobs.push_back(digest_bytes(data));
      must(s->put_blob(blobs.back(), data));
      must(s->put_action(digest_bytes("act" + std::to_string(i)), "res" + std::to_string(i)));
      must(s->put_meta("m" + std::to_string(i), "v"));
      CHECK(*must(s->get_action(digest_bytes("act" + std::to_string(i)))) == "res" + std::to_string(i));
    }
  }
  auto s = must(open_rocksdb_store(dir));
  CHECK(must(s->missing_blobs(blobs)).empty());
  CHECK(*must(s->get_action(digest_bytes("act299"))) == "res299");
  CHECK(*must(s->get_meta("m299")) == "v");

  auto rec = std::make_unique<RecordingStore>();
  RecordingStore* seen = rec.get();
  {
    auto w = make_write_behind_store(std::move(rec), 1 << 20, nullptr);
    for (int i = 0; i < 200; ++i) {
      std::string data = "output " + std::to_string(i);
      must(w->put_blob(digest_bytes(data), data));
      must(w->put_action(digest_bytes("k" + std::to_string(i)), data));
    }
    CHECK(w->stats().blob_count == 200);   // stats wait for the queue to be written
    CHECK(seen->log.size() == 400);
    for (size_t i = 0; i < seen->log.size(); ++i) {
      const std::string& e = seen->log[i];
      if (e.rfind("action ", 0) != 0) continue;
      std::string blob = "blob " + digest_bytes(e.substr(7)).str();
      auto at = std::find(seen->log.begin(), seen->log.end(), blob);
      REQUIRE(at != seen->log.end());
      CHECK(static_cast<size_t>(at - seen->log.begin()) < i);
    }
  }
}

TEST_CASE("write-behind store: an action result is written, with the blobs queued before it, when put_action returns",
          "[store][behind]") {
  auto rec = std::make_unique<RecordingStore>();
  RecordingStore* seen = rec.get();
  auto w = make_write_behind_store(std::move(rec), 1 << 20, nullptr);
  must(w->put_blob(digest_bytes("obj"), "obj"));
  must(w->put_action(digest_bytes("key"), "result"));
  // No stats() or destruction in between: the writer is idle, the log is stable.
  REQUIRE(seen->log.size() == 2);
  CHECK(seen->log[0] == "blob " + digest_bytes("obj").str());
  CHECK(seen->log[1] == "action result");
  CHECK(*must(seen->mem->get_action(digest_bytes("key"))) == "result");
}

TEST_CASE("write-behind store with queued results: flush() writes them, each after the blobs before it",
          "[store][behind]") {
  auto rec = std::make_unique<RecordingStore>();
  RecordingStore* seen = rec.get();
  auto w = make_write_behind_store(std::move(rec), 1 << 20, nullptr, ResultWrites::kQueue);
  must(w->put_blob(digest_bytes("obj"), "obj"));
  must(w->put_action(digest_bytes("key"), "result"));
  CHECK(*must(w->get_action(digest_bytes("key"))) == "result");   // seen while queued
  must(w->flush());
  // Nothing queued after flush(): the writer is idle, the log is stable.
  REQUIRE(seen->log.size() == 2);
  CHECK(seen->log[0] == "blob " + digest_bytes("obj").str());
  CHECK(seen->log[1] == "action result");
  CHECK(*must(seen->mem->get_action(digest_bytes("key"))) == "result");
  must(w->flush());   // nothing to write: returns at once
  CHECK(seen->log.size() == 2);
}

// ---------------------------------------------------------------------------------------
// RocksDB

TEST_CASE("rocksdb store meets the store contract", "[store][rocksdb]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  auto s = must(open_rocksdb_store(dir));
  check_store_contract(*s);
  CHECK(s->stats().backend == "rocksdb:" + dir);
  CHECK(fs::is_directory(dir));
}

TEST_CASE("rocksdb store keeps its data across reopen", "[store][rocksdb]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "nested" / "cache").string();
  const std::string big = random_bytes(3 << 20, 99);
  {
    auto s = must(open_rocksdb_store(dir));
    must(s->put_blob(digest_bytes("small"), "small"));
    must(s->put_blob(digest_bytes(big), big));
    must(s->put_action(digest_bytes("act"), "res"));
    must(s->put_meta("k", "v"));
  }
  auto s = must(open_rocksdb_store(dir));
  CHECK(*must(s->get_blob(digest_bytes("small"))) == "small");
  CHECK(*must(s->get_blob(digest_bytes(big))) == big);
  CHECK(*must(s->get_action(digest_bytes("act"))) == "res");
  CHECK(*must(s->get_meta("k")) == "v");
  CHECK(must(s->missing_blobs({digest_bytes("small"), digest_bytes(big), digest_bytes("nope")})) ==
        std::vector<Digest>{digest_bytes("nope")});
  CHECK(s->stats().blob_count >= 2);
}

TEST_CASE("rocksdb store writes many entries in one batch, with exact accounting", "[store][rocksdb]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  const std::string a = "blob a", b = "blob bb";
  {
    auto s = must(open_rocksdb_store(dir));
    must(s->put_blob(digest_bytes(a), a));   // overwritten below: counted once
    must(s->put_many({{Store::Put::kBlob, digest_bytes(a), {}, a},
                      {Store::Put::kBlob, digest_bytes(b), {}, b},
                      {Store::Put::kAction, digest_bytes("k"), {}, "r1"},
                      {Store::Put::kAction, digest_bytes("k"), {}, "r2"},   // twice in one batch
                      {Store::Put::kMeta, Digest(), "m", "v"}}));
    StoreStats st = s->stats();
    CHECK(st.blob_count == 2);
    CHECK(st.action_count == 1);
    CHECK(st.blob_bytes == a.size() + b.size());
  }
  auto s = must(open_rocksdb_store(dir));   // the counts recomputed at open agree
  CHECK(s->stats().blob_count == 2);
  CHECK(s->stats().action_count == 1);
  CHECK(*must(s->get_action(digest_bytes("k"))) == "r2");
  CHECK(*must(s->get_blob(digest_bytes(b))) == b);
  CHECK(*must(s->get_meta("m")) == "v");
}

TEST_CASE("rocksdb store refuses a second open of the same directory", "[store][rocksdb]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  auto first = must(open_rocksdb_store(dir));
  auto second = open_rocksdb_store(dir);
  REQUIRE_FALSE(second.ok());
  INFO(second.error().message);
  CHECK_THAT(second.error().message, Catch::Contains(dir));
  CHECK_THAT(second.error().message, Catch::Contains("lock"));
  // The first one is unaffected.
  must(first->put_meta("still", "works"));
  CHECK(*must(first->get_meta("still")) == "works");
}

// kill -9 durability and the cross-process lock: a child process (this executable, in the
// mode below) writes, reports "ready" on a pipe and waits; the parent checks that it cannot
// open the locked directory, kills the child with SIGKILL and finds every write.
const char kChildEnv[] = "ZBUILD_STORE_TEST_CHILD";
const std::string kChildBig = random_bytes(5 << 20, 4242);

[[noreturn]] void run_rocksdb_child(const char* dir) {
  auto r = open_rocksdb_store(dir);
  if (!r.ok()) ::_exit(2);
  Store& s = *r.value();
  if (!s.put_blob(digest_bytes("child small"), "child small").ok()) ::_exit(3);
  if (!s.put_blob(digest_bytes(kChildBig), kChildBig).ok()) ::_exit(3);
  if (!s.put_action(digest_bytes("child action"), "child result").ok()) ::_exit(3);
  if (!s.put_meta("child", "meta").ok()) ::_exit(3);
  if (::write(1, "ready\n", 6) != 6) ::_exit(4);
  for (;;) ::pause();
}

struct ChildMode {
  ChildMode() {
    if (const char* dir = std::getenv(kChildEnv)) run_rocksdb_child(dir);
  }
} child_mode;

TEST_CASE("rocksdb store survives kill -9 and is locked against other processes", "[store][rocksdb]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  std::string env_entry = std::string(kChildEnv) + "=" + dir;
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(env_entry.data());
  envp.push_back(nullptr);
  char self[] = "/proc/self/exe";
  char* argv[] = {self, nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  pid_t child = -1;
  int rc = posix_spawn(&child, self, &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  REQUIRE(rc == 0);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reaper{child};

  // Wait (bounded) for "ready".
  std::string got;
  const auto deadline = SteadyTime::now() + std::chrono::seconds(30);
  while (got.find('\n') == std::string::npos && SteadyTime::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[64];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  REQUIRE(got == "ready\n");

  auto locked = open_rocksdb_store(dir);
  REQUIRE_FALSE(locked.ok());
  INFO(locked.error().message);
  CHECK_THAT(locked.error().message, Catch::Contains(dir));
  CHECK_THAT(locked.error().message, Catch::Contains("another zbuild daemon"));

  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  reaper.pid = -1;
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  auto s = must(open_rocksdb_store(dir));
  CHECK(*must(s->get_blob(digest_bytes("child small"))) == "child small");
  CHECK(*must(s->get_blob(digest_bytes(kChildBig))) == kChildBig);
  CHECK(*must(s->get_action(digest_bytes("child action"))) == "child result");
  CHECK(*must(s->get_meta("child")) == "meta");
}

TEST_CASE("rocksdb store upgrades format 1 and refuses other format versions", "[store][rocksdb]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  uint64_t stored = 0;
  {
    auto s = must(open_rocksdb_store(dir));
    must(s->put_blob(digest_bytes("old blob"), "old blob"));
    must(s->put_action(digest_bytes("old action"), "old result"));
    stored = s->stats().stored_bytes;
  }
  // A format-1 store (no size-cap bookkeeping) is upgraded in place: its entries are kept and
  // accounted for again.
  must(testing::set_rocksdb_format(dir, "1"));
  {
    auto s = must(open_rocksdb_store(dir));
    CHECK(*must(s->get_blob(digest_bytes("old blob"))) == "old blob");
    CHECK(*must(s->get_action(digest_bytes("old action"))) == "old result");
    CHECK(s->stats().stored_bytes == stored);
  }
  // A future format is refused.
  for (const char* other : {"3"}) {
    must(testing::set_rocksdb_format(dir, other));
    auto r = open_rocksdb_store(dir);
    REQUIRE_FALSE(r.ok());
    INFO(r.error().message);
    CHECK_THAT(r.error().message, Catch::Contains(dir));
    CHECK_THAT(r.error().message, Catch::Contains(std::string("format '") + other + "'"));
  }
  must(testing::set_rocksdb_format(dir, "2"));
  CHECK(must(open_rocksdb_store(dir)) != nullptr);
}

TEST_CASE("rocksdb store reports directories it cannot create", "[store][rocksdb]") {
  TempDir tmp;
  const fs::path file = tmp.path / "file";
  { std::FILE* f = std::fopen(file.c_str(), "w"); REQUIRE(f != nullptr); std::fclose(f); }
  const std::string dir = (file / "cache").string();
  auto r = open_rocksdb_store(dir);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains(dir));
}

TEST_CASE("open_store dispatches on the spec", "[store]") {
  TempDir tmp;
  const std::string a = (tmp.path / "a").string(), b = (tmp.path / "b").string();
  CHECK(must(open_store(a))->stats().backend == "rocksdb:" + a);
  CHECK(must(open_store("rocksdb:" + b))->stats().backend == "rocksdb:" + b);
  CHECK_FALSE(open_store("").ok());
  CHECK_FALSE(open_store("rocksdb:").ok());
  auto bad = open_store("redis://");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("redis://"));
}

// ---------------------------------------------------------------------------------------
// Size cap: least-recently-used eviction across the CAS and the action cache. One policy,
// checked against every backend that enforces a cap (memory, RocksDB), with a FakeClock.

using Opener = std::function<std::unique_ptr<Store>(const StoreOptions&)>;

// What an entry counts against the cap: its key (Digest::str()) plus its value.
uint64_t entry_size(const Digest& key, size_t value_size) { return key.str().size() + value_size; }

struct Blob {
  std::string data;
  Digest d;
  explicit Blob(size_t n, uint32_t seed) : data(random_bytes(n, seed)), d(digest_bytes(data)) {}
  uint64_t size() const { return entry_size(d, data.size()); }
};

void check_lru_policy(const Opener& open) {
  FakeClock clock(5000);
  const Blob a(100 << 10, 1), b(100 << 10, 2), c(100 << 10, 3), big(300 << 10, 4);
  const Digest act = digest_bytes("action under the cap");
  const std::string result(100 << 10, 'r');  // as big as a blob, so either can make room
  const uint64_t act_size = entry_size(act, result.size());
  // Room for a, b, the action and a little more, not for c as well.
  const uint64_t cap = a.size() + b.size() + act_size + (10 << 10);
  StoreOptions opts;
  opts.max_bytes = cap;
  opts.clock = &clock;   // the default refresh window: under a cap every hit refreshes anyway
  auto s = open(opts);
  CHECK(s->stats().max_bytes == cap);

  must(s->put_blob(a.d, a.data));
  clock.advance(10);
  must(s->put_action(act, result));
  clock.advance(10);
  must(s->put_blob(b.d, b.data));
  clock.advance(10);
  CHECK(s->stats().stored_bytes == a.size() + b.size() + act_size);
  CHECK(s->stats().evictions == 0);

  // Reading a refreshes it: the action is now the least recently used entry.
  CHECK(must(s->get_blob(a.d)).has_value());
  clock.advance(10);
  must(s->put_blob(c.d, c.data));
  CHECK_FALSE(must(s->get_action(act)).has_value());
  CHECK(must(s->missing_blobs({a.d, b.d, c.d})).empty());
  StoreStats st = s->stats();
  CHECK(st.evictions == 1);
  CHECK(st.evicted_bytes == act_size);
  CHECK(st.stored_bytes == a.size() + b.size() + c.size());
  CHECK(st.stored_bytes <= cap);
  CHECK(st.blob_count == 3);
  CHECK(st.action_count == 0);
  CHECK(st.blob_bytes == a.data.size() + b.data.size() + c.data.size());
  clock.advance(10);

  // A presence check refreshes too (the caller is about to rely on the blob): b, then a.
  CHECK(must(s->has_blob(b.d)));
  clock.advance(10);
  CHECK(must(s->missing_blobs({a.d})).empty());
  clock.advance(10);
  // The action comes back and pushes out the oldest blob, c.
  must(s->put_action(act, result));
  CHECK_FALSE(must(s->has_blob(c.d)));
  CHECK(*must(s->get_action(act)) == result);
  CHECK(s->stats().evictions == 2);
  clock.advance(10);

  // A clock that stands still still orders entries by access.
  CHECK(must(s->get_blob(a.d)).has_value());
  CHECK(must(s->get_action(act)).has_value());
  must(s->put_blob(c.d, c.data));  // b is the oldest now
  CHECK(must(s->missing_blobs({a.d, b.d, c.d})) == std::vector<Digest>{b.d});
  CHECK(must(s->get_action(act)).has_value());

  // Overwriting an entry replaces its size rather than adding to it.
  const uint64_t before = s->stats().stored_bytes;
  must(s->put_action(act, result));
  CHECK(s->stats().stored_bytes == before);

  // An entry larger than the whole cap is refused with an error and evicts nothing.
  const Blob huge(cap, 9);
  auto r = s->put_blob(huge.d, huge.data);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("size cap"));
  CHECK(must(s->missing_blobs({a.d, c.d})).empty());

  // One big entry evicts as many as it needs, oldest first, never itself.
  clock.advance(10);
  must(s->put_blob(big.d, big.data));
  CHECK(must(s->has_blob(big.d)));
  CHECK(s->stats().stored_bytes <= cap);
  CHECK(*must(s->get_blob(big.d)) == big.data);

  // Metadata is outside the cap.
  must(s->put_meta("manifest:x", std::string(cap, 'm')));
  CHECK(must(s->get_meta("manifest:x"))->size() == cap);
}

TEST_CASE("memory store evicts least recently used entries under a size cap", "[store][memory][cap]") {
  check_lru_policy([](const StoreOptions& o) { return make_memory_store(o); });
}

TEST_CASE("rocksdb store evicts least recently used entries under a size cap", "[store][rocksdb][cap]") {
  TempDir tmp;
  check_lru_policy([&](const StoreOptions& o) { return must(open_rocksdb_store((tmp.path / "cache").string(), o)); });
}

// Without a cap, a hit within the refresh window leaves the entry's stamp (no recency write);
// an older one refreshes it. Seen through the order a later open with a cap evicts in.
TEST_CASE("rocksdb store without a cap refreshes recency at most once per refresh window", "[store][rocksdb][cap]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  FakeClock clock(5000);
  const Blob a(100 << 10, 21), b(100 << 10, 22);
  StoreOptions uncapped;
  uncapped.clock = &clock;
  uncapped.refresh_ms = 1000;
  StoreOptions capped = uncapped;
  capped.max_bytes = a.size() + (10 << 10);   // room for one
  auto oldest_after_reopen = [&](auto&& between) {
    std::filesystem::remove_all(dir);
    {
      auto s = must(open_rocksdb_store(dir, uncapped));
      must(s->put_blob(a.d, a.data));
      clock.advance(10);
      must(s->put_blob(b.d, b.data));
      clock.advance(10);
      between(*s);
    }
    auto s = must(open_rocksdb_store(dir, capped));   // evicts down to the cap, oldest first
    return must(s->missing_blobs({a.d, b.d}));
  };
  // a was stamped 20 ms ago: the hits leave it the oldest.
  CHECK(oldest_after_reopen([&](Store& s) {
          CHECK(must(s.missing_blobs({a.d})).empty());
          CHECK(must(s.get_blob(a.d)).has_value());
        }) == std::vector<Digest>{a.d});
  // Past the window a hit refreshes: b goes.
  CHECK(oldest_after_reopen([&](Store& s) {
          clock.advance(2000);
          CHECK(must(s.missing_blobs({a.d})).empty());
        }) == std::vector<Digest>{b.d});
}

TEST_CASE("stores without a cap meet the contract and report no evictions", "[store][cap]") {
  TempDir tmp;
  StoreOptions roomy;
  roomy.max_bytes = 1ull << 30;
  for (auto* which : {"memory", "rocksdb"}) {
    INFO(which);
    auto s = std::string(which) == "memory" ? make_memory_store(roomy)
                                            : must(open_rocksdb_store((tmp.path / "cache").string(), roomy));
    check_store_contract(*s);
    StoreStats st = s->stats();
    CHECK(st.max_bytes == roomy.max_bytes);
    CHECK(st.evictions == 0);
    CHECK(st.stored_bytes >= st.blob_bytes);
    CHECK(st.blob_count == 9);
    CHECK(st.action_count == 2);
    CHECK_FALSE(st.read_only);
    CHECK(st.write_error.empty());
  }
}

TEST_CASE("rocksdb store keeps its size accounting and recency across reopen", "[store][rocksdb][cap]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  const Blob a(80 << 10, 11), b(80 << 10, 12), c(80 << 10, 13), d(80 << 10, 14);
  const Digest act = digest_bytes("reopened action");
  FakeClock clock(1'000'000);
  StoreOptions opts;
  opts.clock = &clock;
  opts.max_bytes = a.size() + b.size() + c.size();  // with the action too, one blob must go
  StoreStats first;
  {
    auto s = must(open_rocksdb_store(dir, opts));
    must(s->put_blob(a.d, a.data));
    clock.advance(1);
    must(s->put_blob(b.d, b.data));
    clock.advance(1);
    must(s->put_action(act, "result"));
    clock.advance(1);
    first = s->stats();
  }
  // The clock restarts far lower (a steady clock after a reboot): recency must not go back.
  clock.set(10);
  auto s = must(open_rocksdb_store(dir, opts));
  StoreStats again = s->stats();
  CHECK(again.blob_count == 2);
  CHECK(again.action_count == 1);
  CHECK(again.blob_bytes == first.blob_bytes);
  CHECK(again.stored_bytes == first.stored_bytes);
  CHECK(again.stored_bytes == a.size() + b.size() + entry_size(act, 6));
  CHECK(again.evictions == 0);  // counted since open
  CHECK(must(s->get_blob(a.d)).has_value());  // a is now the newest, despite the lower clock
  must(s->put_blob(c.d, c.data));            // evicts b, the oldest
  CHECK(must(s->missing_blobs({a.d, b.d, c.d})) == std::vector<Digest>{b.d});
  CHECK(*must(s->get_action(act)) == "result");
  CHECK(s->stats().evictions == 1);
  s.reset();

  // A smaller cap at the next open evicts down to it straight away, oldest first.
  opts.max_bytes = c.size() + entry_size(act, 6) + 16;
  s = must(open_rocksdb_store(dir, opts));
  CHECK(s->stats().stored_bytes <= opts.max_bytes);
  CHECK(s->stats().evictions == 1);
  CHECK(must(s->missing_blobs({a.d, c.d})) == std::vector<Digest>{a.d});
  CHECK(*must(s->get_action(act)) == "result");
  must(s->put_blob(d.d, d.data));  // c, the oldest, makes room
  CHECK(must(s->missing_blobs({c.d, d.d})) == std::vector<Digest>{c.d});
  CHECK(s->stats().stored_bytes <= opts.max_bytes);
}

// ---------------------------------------------------------------------------------------
// Full disk: writes fail as errors, reads go on, nothing aborts, writes come back.

namespace {
// A store folder on a disk that can be made full, with a fake clock for the retry interval.
struct FullDisk {
  TempDir tmp;
  std::string dir = (tmp.path / "cache").string();
  std::shared_ptr<testing::DiskFault> fault = std::make_shared<testing::DiskFault>();
  FakeClock clock;
  StoreOptions opts;
  FullDisk() {
    opts.clock = &clock;
    opts.retry_ms = 1000;
  }
};
}  // namespace

TEST_CASE_METHOD(FullDisk, "rocksdb store on a full disk fails writes, keeps reading and resumes",
                 "[store][rocksdb][diskfull]") {
  auto s = must(testing::open_rocksdb_store_with_fault(dir, opts, fault));
  const Blob kept(200 << 10, 21), refused(200 << 10, 22);
  must(s->put_blob(kept.d, kept.data));
  must(s->put_action(digest_bytes("kept action"), "kept result"));
  must(s->put_meta("kept", "meta"));
  const StoreStats before = s->stats();

  fault->full = true;
  auto w = s->put_blob(refused.d, refused.data);
  REQUIRE_FALSE(w.ok());
  INFO(w.error().message);
  CHECK_THAT(w.error().message, Catch::Contains(dir));
  CHECK_THAT(w.error().message, Catch::Contains("No space left on device"));
  // Every write fails now, and fails fast; every read works.
  CHECK_FALSE(s->put_action(digest_bytes("refused action"), "r").ok());
  CHECK_FALSE(s->put_meta("refused", "m").ok());
  CHECK(*must(s->get_blob(kept.d)) == kept.data);
  CHECK(*must(s->get_action(digest_bytes("kept action"))) == "kept result");
  CHECK(*must(s->get_meta("kept")) == "meta");
  CHECK(must(s->missing_blobs({kept.d, refused.d})) == std::vector<Digest>{refused.d});
  StoreStats st = s->stats();
  CHECK_THAT(st.write_error, Catch::Contains("No space left on device"));
  CHECK(st.stored_bytes == before.stored_bytes);  // a failed write is not counted
  CHECK(st.blob_count == before.blob_count);

  // Space comes back: the next write after the retry interval resumes the database.
  fault->full = false;
  clock.advance(opts.retry_ms);
  must(s->put_blob(refused.d, refused.data));
  CHECK(*must(s->get_blob(refused.d)) == refused.data);
  must(s->put_meta("after", "resume"));
  CHECK(s->stats().write_error.empty());
  CHECK(s->stats().blob_count == before.blob_count + 1);
}

TEST_CASE_METHOD(FullDisk, "rocksdb store reopens read-only on a full disk and read-write once there is room",
                 "[store][rocksdb][diskfull]") {
  const Blob big(300 << 10, 31);
  {
    auto s = must(testing::open_rocksdb_store_with_fault(dir, opts, fault));
    must(s->put_blob(big.d, big.data));
    must(s->put_blob(digest_bytes("small"), "small"));
    must(s->put_action(digest_bytes("act"), "res"));
  }
  fault->full = true;
  auto s = must(testing::open_rocksdb_store_with_fault(dir, opts, fault));
  StoreStats st = s->stats();
  CHECK(st.read_only);
  CHECK_THAT(st.write_error, Catch::Contains("No space left on device"));
  CHECK(st.blob_count == 2);  // accounting from the bookkeeping, read-only
  CHECK(*must(s->get_blob(big.d)) == big.data);
  CHECK(*must(s->get_blob(digest_bytes("small"))) == "small");
  CHECK(*must(s->get_action(digest_bytes("act"))) == "res");
  auto w = s->put_blob(digest_bytes("new"), "new");
  REQUIRE_FALSE(w.ok());
  CHECK_THAT(w.error().message, Catch::Contains("read-only"));

  // Still full at the retry: still read-only, still reading.
  clock.advance(opts.retry_ms);
  CHECK_FALSE(s->put_blob(digest_bytes("new"), "new").ok());
  CHECK(*must(s->get_blob(big.d)) == big.data);

  fault->full = false;
  clock.advance(opts.retry_ms);
  must(s->put_blob(digest_bytes("new"), "new"));
  CHECK_FALSE(s->stats().read_only);
  CHECK(s->stats().write_error.empty());
  CHECK(*must(s->get_blob(digest_bytes("new"))) == "new");
  CHECK(*must(s->get_blob(big.d)) == big.data);
  CHECK(s->stats().blob_count == 3);
}

TEST_CASE("rocksdb store cannot be created on a full disk and says why", "[store][rocksdb][diskfull]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  auto fault = std::make_shared<testing::DiskFault>();
  fault->full = true;
  auto r = testing::open_rocksdb_store_with_fault(dir, {}, fault);
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message);
  CHECK_THAT(r.error().message, Catch::Contains(dir));
  CHECK_THAT(r.error().message, Catch::Contains("No space left on device"));
}

TEST_CASE_METHOD(FullDisk, "write-tolerant store keeps building when its backend cannot write",
                 "[store][diskfull]") {
  std::vector<std::string> warnings;
  auto s = make_write_tolerant_store(dir, must(testing::open_rocksdb_store_with_fault(dir, opts, fault)), 1 << 20,
                                     [&](const std::string& m) { warnings.push_back(m); });
  const Blob old(100 << 10, 41), fresh(100 << 10, 42), too_big(2 << 20, 43);
  must(s->put_blob(old.d, old.data));
  CHECK(warnings.empty());

  fault->full = true;
  // Writes succeed for the caller (the build goes on); what the disk refused is in memory.
  must(s->put_blob(fresh.d, fresh.data));
  must(s->put_action(digest_bytes("a"), "result a"));
  must(s->put_meta("m", "v"));
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("caching stopped"));
  CHECK_THAT(warnings[0], Catch::Contains("No space left on device"));
  CHECK(*must(s->get_blob(fresh.d)) == fresh.data);
  CHECK(*must(s->get_blob(old.d)) == old.data);
  CHECK(*must(s->get_action(digest_bytes("a"))) == "result a");
  CHECK(*must(s->get_meta("m")) == "v");
  CHECK(must(s->missing_blobs({old.d, fresh.d, too_big.d})) == std::vector<Digest>{too_big.d});
  must(s->put_blob(too_big.d, too_big.data));  // larger than the memory cap: dropped, still no error
  CHECK_FALSE(must(s->has_blob(too_big.d)));
  CHECK_THAT(s->stats().write_error, Catch::Contains("No space left on device"));
  CHECK(warnings.size() == 1);  // one warning per episode

  fault->full = false;
  clock.advance(opts.retry_ms);
  must(s->put_action(digest_bytes("a"), "result a2"));
  REQUIRE(warnings.size() == 2);
  CHECK_THAT(warnings[1], Catch::Contains("accepts writes again"));
  CHECK(*must(s->get_action(digest_bytes("a"))) == "result a2");
  CHECK(s->stats().write_error.empty());
}

namespace {

// A shared backend that can go away: while `down` is set every call fails, as a Redis server
// that stopped answering does. Counts the calls that reach it.
class FlakyStore final : public Store {
 public:
  Result<bool> has_blob(const Digest& d) override { return via([&] { return inner_->has_blob(d); }); }
  Status put_blob(const Digest& d, std::string_view data) override {
    return via([&] { return inner_->put_blob(d, data); });
  }
  Result<std::optional<std::string>> get_blob(const Digest& d) override {
    return via([&] { return inner_->get_blob(d); });
  }
  Status put_action(const Digest& key, std::string_view v) override {
    return via([&] { return inner_->put_action(key, v); });
  }
  Result<std::optional<std::string>> get_action(const Digest& key) override {
    return via([&] { return inner_->get_action(key); });
  }
  Status put_meta(std::string_view k, std::string_view v) override { return via([&] { return inner_->put_meta(k, v); }); }
  Result<std::optional<std::string>> get_meta(std::string_view k) override {
    return via([&] { return inner_->get_meta(k); });
  }
  StoreStats stats() override { return inner_->stats(); }

  bool down = false;
  int calls = 0;

 private:
  // Every call is counted and, while down, fails before it reaches the inner store.
  template <class Call>
  auto via(Call call) -> decltype(call()) {
    ++calls;
    if (down) return make_error("Connection refused");
    return call();
  }
  std::unique_ptr<Store> inner_ = make_memory_store();
};

}  // namespace

TEST_CASE("resilient store tries a failed backend again only after the retry interval", "[store][resilient]") {
  FakeClock clock;
  auto owned = std::make_unique<FlakyStore>();
  FlakyStore& backend = *owned;
  std::vector<std::string> warnings;
  auto s = make_resilient_store(
      "redis://test", std::move(owned), 1 << 20, [&](const std::string& m) { warnings.push_back(m); }, &clock,
      30000);
  must(s->put_meta("k", "shared"));
  CHECK(warnings.empty());

  backend.down = true;
  must(s->put_meta("k", "local"));   // the backend fails: kept locally, the caller sees no error
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("Connection refused"));
  CHECK(*must(s->get_meta("k")) == "local");

  // Still down at the first retry: one probe, then quiet for another interval.
  int calls = backend.calls;
  clock.advance(30000);
  CHECK(*must(s->get_meta("k")) == "local");
  CHECK(backend.calls == calls + 1);
  calls = backend.calls;
  clock.advance(29999);
  CHECK(*must(s->get_meta("k")) == "local");
  CHECK(backend.calls == calls);
  CHECK(warnings.size() == 1);

  // Back: not used before the interval has passed, then used again and announced.
  backend.down = false;
  CHECK(*must(s->get_meta("k")) == "local");
  CHECK(backend.calls == calls);
  clock.advance(1);
  CHECK(*must(s->get_meta("k")) == "shared");
  REQUIRE(warnings.size() == 2);
  CHECK_THAT(warnings[1], Catch::Contains("reachable again"));
}

TEST_CASE("parse_byte_size reads sizes with binary units", "[store]") {
  CHECK(must(parse_byte_size("0")) == 0);
  CHECK(must(parse_byte_size("1234")) == 1234);
  CHECK(must(parse_byte_size("64K")) == 64ull << 10);
  CHECK(must(parse_byte_size("500M")) == 500ull << 20);
  CHECK(must(parse_byte_size("500m")) == 500ull << 20);
  CHECK(must(parse_byte_size("2G")) == 2ull << 30);
  CHECK(must(parse_byte_size("2GB")) == 2ull << 30);
  CHECK(must(parse_byte_size("2GiB")) == 2ull << 30);
  CHECK(must(parse_byte_size("1T")) == 1ull << 40);
  CHECK(must(parse_byte_size("100B")) == 100);
  for (const char* bad : {"", "M", "-1", "1.5G", "12X", "5 M", "99999999999999999999", "20000000T"}) {
    INFO(bad);
    auto r = parse_byte_size(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("bad size"));
  }
}

// ---------------------------------------------------------------------------------------
// Redis

// Minimal RESP client for poking at the server behind the store's back. Returns the first
// line of the reply ("+PONG", ":1", "$-1", "-ERR ...") or "" when the server is unreachable.
std::string resp_command(const std::string& socket_path, const std::vector<std::string>& args) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string out;
  if (socket_path.size() < sizeof addr.sun_path) {
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      std::string req = "*" + std::to_string(args.size()) + "\r\n";
      for (const auto& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
      if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
        char c;
        while (::recv(fd, &c, 1, 0) == 1 && c != '\n') out += c;
        if (!out.empty() && out.back() == '\r') out.pop_back();
      }
    }
  }
  ::close(fd);
  return out;
}

// A redis-server of the test's own on a Unix socket in the test's folder (--port 0: no TCP),
// so no port has to be found free first; stopped by pid.
class RedisServer {
 public:
  RedisServer() {
    // As in the daemon (install_stop_signals): a write to a Unix socket the server has closed
    // must fail with EPIPE, for the store to reconnect, not kill the process.
    ::signal(SIGPIPE, SIG_IGN);
    start();
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer() { stop(); }

  const std::string& socket() const { return socket_; }
  std::string url(int db = 0) const { return "redis+unix://" + socket_ + (db ? "?db=" + std::to_string(db) : ""); }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  void start() {
    socket_ = (tmp_.path / "redis.sock").string();
    const std::string dir = tmp_.path.string(), log = (tmp_.path / "redis.log").string();
    std::vector<std::string> args = {"/usr/bin/redis-server", "--port", "0", "--unixsocket", socket_,
                                     "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                                     "--daemonize", "no", "--dir", dir, "--logfile", log};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) FAIL("posix_spawn redis-server: " << std::strerror(rc));
    pid_ = pid;
    // Ready when it answers PING; give up at the deadline or if the server exits.
    const auto deadline = SteadyTime::now() + std::chrono::seconds(15);
    while (SteadyTime::now() < deadline) {
      if (resp_command(socket_, {"PING"}) == "+PONG") return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("redis-server exited at start; see " << log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval, not a wait for readiness
    }
    stop();
    FAIL("redis-server did not answer within 15 s; see " << log);
  }

  TempDir tmp_;
  std::string socket_;
  pid_t pid_ = -1;
};

TEST_CASE("redis store meets the store contract", "[store][redis]") {
  RedisServer server;
  auto s = must(open_redis_store(server.url()));
  check_store_contract(*s);
  CHECK(s->stats().backend == server.url());
  CHECK(resp_command(server.socket(), {"GET", "zb:format"}) == "$1");
  // The size cap is the server's own (maxmemory + allkeys-lru); stats report it.
  CHECK(s->stats().max_bytes == 0);
  CHECK(resp_command(server.socket(), {"CONFIG", "SET", "maxmemory", "104857600"}) == "+OK");
  CHECK(s->stats().max_bytes == 100u << 20);
  CHECK(s->stats().evictions == 0);
}

TEST_CASE("redis store counts its blobs and actions, not pieces, meta or other keys", "[store][redis]") {
  RedisServer server;
  auto s = must(open_redis_store(server.url()));
  StoreStats empty = s->stats();
  CHECK(empty.blob_count == 0);
  CHECK(empty.action_count == 0);
  CHECK(empty.blob_bytes == 0);
  const std::string small = "small blob", other = "another one";
  const std::string big = random_bytes((3 << 20) + 5, 11);   // a header and four pieces
  for (const std::string* data : {&small, &other, &big}) must(s->put_blob(digest_bytes(*data), *data));
  must(s->put_blob(digest_bytes(small), small));   // twice: still one blob
  must(s->put_action(digest_bytes("action 1"), "r1"));
  must(s->put_action(digest_bytes("action 2"), "r2"));
  must(s->put_meta("manifest:a.cc", "a.h"));
  // Another application's keys in the same database.
  CHECK(resp_command(server.socket(), {"SET", "session:42", "x"}) == "+OK");
  CHECK(resp_command(server.socket(), {"SET", "zb:cas:not-a-digest", "x"}) == "+OK");
  StoreStats st = s->stats();
  CHECK(st.blob_count == 3);
  CHECK(st.blob_bytes == small.size() + other.size() + big.size());
  CHECK(st.action_count == 2);
  CHECK(st.stored_bytes > 0);   // the server's used_memory
}

TEST_CASE("redis store stores large blobs in verified pieces", "[store][redis]") {
  RedisServer server;
  auto s = must(open_redis_store(server.url()));
  const std::string data = random_bytes((3 << 20) + 5, 7);
  const Digest d = digest_bytes(data);
  const std::string key = "zb:cas:" + d.str();
  must(s->put_blob(d, data));
  // Four pieces plus the header; no piece larger than 1 MiB.
  for (int i = 0; i < 4; ++i) CHECK(resp_command(server.socket(), {"EXISTS", key + ":" + std::to_string(i)}) == ":1");
  CHECK(resp_command(server.socket(), {"EXISTS", key + ":4"}) == ":0");
  CHECK(resp_command(server.socket(), {"STRLEN", key + ":0"}) == ":1048576");
  CHECK(resp_command(server.socket(), {"STRLEN", key + ":3"}) == ":5");
  REQUIRE(*must(s->get_blob(d)) == data);

  SECTION("a corrupted piece reads as absent") {
    CHECK(resp_command(server.socket(), {"SETRANGE", key + ":1", "100", "X"}) == ":1048576");
    CHECK_FALSE(must(s->get_blob(d)).has_value());
  }
  SECTION("a missing piece reads as absent") {
    CHECK(resp_command(server.socket(), {"DEL", key + ":2"}) == ":1");
    CHECK_FALSE(must(s->has_blob(d)));
    CHECK(must(s->missing_blobs({d})) == std::vector<Digest>{d});
    CHECK_FALSE(must(s->get_blob(d)).has_value());
    // Uploading again repairs it.
    must(s->put_blob(d, data));
    CHECK(*must(s->get_blob(d)) == data);
  }
  SECTION("a corrupted small blob reads as absent") {
    const Digest small = digest_bytes("small blob");
    must(s->put_blob(small, "small blob"));
    CHECK(resp_command(server.socket(), {"SET", "zb:cas:" + small.str(), "other blob"}) == "+OK");
    CHECK_FALSE(must(s->get_blob(small)).has_value());
  }
}

TEST_CASE("redis store reconnects once after a dropped connection", "[store][redis]") {
  RedisServer server;
  auto s = must(open_redis_store(server.url(3)));
  must(s->put_meta("k", "v"));
  CHECK_THAT(resp_command(server.socket(), {"CLIENT", "KILL", "TYPE", "normal"}), Catch::StartsWith(":"));
  CHECK(*must(s->get_meta("k")) == "v");
  // Database 3 is its own namespace.
  auto db0 = must(open_redis_store(server.url()));
  CHECK_FALSE(must(db0->get_meta("k")).has_value());

  // With the server gone, operations fail with an error naming the URL (the daemon then
  // carries on without a cache) instead of hanging or crashing.
  server.stop();
  auto r = s->get_meta("k");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains(server.url(3)));
  auto p = s->put_blob(digest_bytes("x"), "x");
  REQUIRE_FALSE(p.ok());
  CHECK_THAT(p.error().message, Catch::Contains(server.url(3)));
  CHECK(s->stats().blob_count == 0);
}

TEST_CASE("redis store refuses other format versions", "[store][redis]") {
  RedisServer server;
  REQUIRE(resp_command(server.socket(), {"SET", "zb:format", "2"}) == "+OK");
  auto r = open_redis_store(server.url());
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message);
  CHECK_THAT(r.error().message, Catch::Contains(server.url()));
  CHECK_THAT(r.error().message, Catch::Contains("format '2'"));
}

TEST_CASE("redis store reports an unreachable server by URL", "[store][redis]") {
  LoopbackPort nobody;   // bound, never listening: connections are refused while the test runs
  const std::string url = "redis://127.0.0.1:" + std::to_string(nobody.port());
  auto r = open_redis_store(url);
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message);
  CHECK_THAT(r.error().message, Catch::Contains(url));
  auto via_spec = open_store(url + "/2");
  REQUIRE_FALSE(via_spec.ok());
  CHECK_THAT(via_spec.error().message, Catch::Contains(url + "/2"));
  TempDir tmp;
  const std::string no_socket = "redis+unix://" + (tmp.path / "no.sock").string();
  auto u = open_store(no_socket + "?db=1");
  REQUIRE_FALSE(u.ok());
  CHECK_THAT(u.error().message, Catch::Contains(no_socket + "?db=1"));
  CHECK_THAT(u.error().message, Catch::Contains("cannot connect"));
  for (const char* bad : {"redis://127.0.0.1:notaport", "redis+unix://relative.sock", "redis+unix:///r.sock?db=x",
                          "redis+unix:///r.sock?timeout=1"}) {
    auto b = open_redis_store(bad);
    REQUIRE_FALSE(b.ok());
    CHECK_THAT(b.error().message, Catch::Contains(bad));
    CHECK_THAT(b.error().message, Catch::Contains("bad Redis URL"));
  }
}

}  // namespace
}  // namespace zbuild::store
