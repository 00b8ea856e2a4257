// One contract, run against every backend (memory, RocksDB, Redis), plus backend specifics:
// RocksDB reopen/locking/format, Redis pieces/reconnect/format/unreachable. The Redis cases
// start their own redis-server on a free loopback port and stop it by pid.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
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

#include "store/store.h"
#include "store/testing.h"

extern char** environ;

namespace zbuild::store {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

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

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "zbuild-store-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// ---------------------------------------------------------------------------------------
// The contract every backend meets.

struct Traits {
  bool counts_actions = true;  // Redis reports action_count 0 (see docs/store-format.md)
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
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (got.find('\n') == std::string::npos && Clock::now() < deadline) {
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

TEST_CASE("rocksdb store refuses other format versions", "[store][rocksdb]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "cache").string();
  { auto s = must(open_rocksdb_store(dir)); }
  // Format 1 (before the size-cap bookkeeping) and a future format 3 are both refused.
  for (const char* other : {"1", "3"}) {
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
// Redis

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Minimal RESP client for poking at the server behind the store's back. Returns the first
// line of the reply ("+PONG", ":1", "$-1", "-ERR ...") or "" when the server is unreachable.
std::string resp_command(int port, const std::vector<std::string>& args) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char c;
      while (::recv(fd, &c, 1, 0) == 1 && c != '\n') out += c;
      if (!out.empty() && out.back() == '\r') out.pop_back();
    }
  }
  ::close(fd);
  return out;
}

class RedisServer {
 public:
  RedisServer() {
    for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) try_start();
    if (pid_ <= 0) FAIL("could not start redis-server; see " << (tmp_.path / "redis.log"));
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer() { stop(); }

  int port() const { return port_; }
  std::string url(int db = 0) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + (db ? "/" + std::to_string(db) : "");
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  void try_start() {
    port_ = free_loopback_port();
    const std::string port = std::to_string(port_), dir = tmp_.path.string(),
                      log = (tmp_.path / "redis.log").string();
    std::vector<std::string> args = {"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", port,
                                     "--save", "", "--appendonly", "no", "--daemonize", "no",
                                     "--dir", dir, "--logfile", log};
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
    // Ready when it answers PING; give up at the deadline or if the server exits (e.g. the
    // port was taken between our probe and its bind).
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < deadline) {
      if (resp_command(port_, {"PING"}) == "+PONG") return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval, not a wait for readiness
    }
    stop();
  }

  TempDir tmp_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST_CASE("redis store meets the store contract", "[store][redis]") {
  RedisServer server;
  auto s = must(open_redis_store(server.url()));
  check_store_contract(*s, Traits{.counts_actions = false});
  CHECK(s->stats().backend == server.url());
  CHECK(resp_command(server.port(), {"GET", "zb:format"}) == "$1");
}

TEST_CASE("redis store stores large blobs in verified pieces", "[store][redis]") {
  RedisServer server;
  auto s = must(open_redis_store(server.url()));
  const std::string data = random_bytes((3 << 20) + 5, 7);
  const Digest d = digest_bytes(data);
  const std::string key = "zb:cas:" + d.str();
  must(s->put_blob(d, data));
  // Four pieces plus the header; no piece larger than 1 MiB.
  for (int i = 0; i < 4; ++i) CHECK(resp_command(server.port(), {"EXISTS", key + ":" + std::to_string(i)}) == ":1");
  CHECK(resp_command(server.port(), {"EXISTS", key + ":4"}) == ":0");
  CHECK(resp_command(server.port(), {"STRLEN", key + ":0"}) == ":1048576");
  CHECK(resp_command(server.port(), {"STRLEN", key + ":3"}) == ":5");
  REQUIRE(*must(s->get_blob(d)) == data);

  SECTION("a corrupted piece reads as absent") {
    CHECK(resp_command(server.port(), {"SETRANGE", key + ":1", "100", "X"}) == ":1048576");
    CHECK_FALSE(must(s->get_blob(d)).has_value());
  }
  SECTION("a missing piece reads as absent") {
    CHECK(resp_command(server.port(), {"DEL", key + ":2"}) == ":1");
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
    CHECK(resp_command(server.port(), {"SET", "zb:cas:" + small.str(), "other blob"}) == "+OK");
    CHECK_FALSE(must(s->get_blob(small)).has_value());
  }
}

TEST_CASE("redis store reconnects once after a dropped connection", "[store][redis]") {
  RedisServer server;
  auto s = must(open_redis_store(server.url(3)));
  must(s->put_meta("k", "v"));
  CHECK_THAT(resp_command(server.port(), {"CLIENT", "KILL", "TYPE", "normal"}), Catch::StartsWith(":"));
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
  REQUIRE(resp_command(server.port(), {"SET", "zb:format", "2"}) == "+OK");
  auto r = open_redis_store(server.url());
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message);
  CHECK_THAT(r.error().message, Catch::Contains(server.url()));
  CHECK_THAT(r.error().message, Catch::Contains("format '2'"));
}

TEST_CASE("redis store reports an unreachable server by URL", "[store][redis]") {
  const std::string url = "redis://127.0.0.1:" + std::to_string(free_loopback_port());
  auto r = open_redis_store(url);
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message);
  CHECK_THAT(r.error().message, Catch::Contains(url));
  auto via_spec = open_store(url + "/2");
  REQUIRE_FALSE(via_spec.ok());
  CHECK_THAT(via_spec.error().message, Catch::Contains(url + "/2"));
  auto bad = open_redis_store("redis://127.0.0.1:notaport");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("redis://127.0.0.1:notaport"));
}

}  // namespace
}  // namespace zbuild::store
