#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <vector>

#include "common/address.h"

using namespace zbuild;

namespace {
int listen_unix(const std::string& path, bool keep_listening) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  if (!keep_listening) {
    ::close(fd);   // the file stays: what a daemon killed with SIGKILL leaves behind
    return -1;
  }
  return fd;
}

// Listening TCP sockets on loopback, as the daemon's binds would be; port 0 lets the system
// choose.
struct LoopbackBinder {
  std::vector<int> fds;
  ~LoopbackBinder() { unbind(); }
  Result<int> bind(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 1) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      int e = errno;
      ::close(fd);
      return make_error(std::strerror(e));
    }
    fds.push_back(fd);
    return static_cast<int>(ntohs(a.sin_port));
  }
  void unbind() {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
  BindPort binder() {
    return [this](int, int port) { return bind(port); };
  }
};

// Ports handed out by a scripted "system" for port 0, and a set of ports someone else holds.
struct FakeBinder {
  std::vector<int> offered;       // what successive binds of port 0 get
  std::set<int> taken;
  std::set<int> bound;
  std::vector<int> unbound;
  BindPort binder() {
    return [this](int, int port) -> Result<int> {
      if (port == 0) {
        if (offered.empty()) return make_error("no ports left");
        port = offered.front();
        offered.erase(offered.begin());
      }
      if (taken.count(port) || bound.count(port)) return make_error("Address already in use");
      bound.insert(port);
      return port;
    };
  }
  std::function<void()> unbinder() {
    return [this] {
      unbound.insert(unbound.end(), bound.begin(), bound.end());
      bound.clear();
    };
  }
};
}  // namespace

TEST_CASE("port 0 is a listen address, not a daemon's address") {
  REQUIRE(parse_listen_address("127.0.0.1:0").ok());
  CHECK(parse_listen_address("127.0.0.1:0").value().port == 0);
  CHECK(parse_listen_address("127.0.0.1:7600").value().port == 7600);
  CHECK_FALSE(parse_listen_address("127.0.0.1:65534").ok());
  REQUIRE_FALSE(parse_address("127.0.0.1:0").ok());
  CHECK_THAT(parse_address("127.0.0.1:0").error().message, Catch::Contains("1..65533"));
}

TEST_CASE("port 0 skips a block whose second or third port is taken") {
  FakeBinder f;
  f.offered = {40000, 41000, 42000};
  f.taken = {40001, 41002};
  auto r = bind_port_block(0, f.binder(), f.unbinder());
  REQUIRE(r.ok());
  CHECK(r.value() == 42000);
  CHECK(f.bound == std::set<int>{42000, 42001, 42002});
  // Each skipped attempt released what it had bound.
  CHECK(f.unbound == std::vector<int>{40000, 41000, 41001});
}

TEST_CASE("port 0 gives up after its tries, saying why the last block failed") {
  FakeBinder f;
  f.offered = {40000, 41000, 65534};
  f.taken = {40001, 41001};
  auto r = bind_port_block(0, f.binder(), f.unbinder(), 3);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("no block of three free ports after 3 tries"));
  CHECK_THAT(r.error().message, Catch::Contains("port 65534: no room"));
  CHECK(f.bound.empty());
}

TEST_CASE("an explicit block is bound as given or fails naming the taken port") {
  FakeBinder f;
  f.taken = {7602};
  auto r = bind_port_block(7600, f.binder(), f.unbinder());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "port 7602: Address already in use");
  CHECK(f.bound.empty());   // nothing left half-bound
  f.taken.clear();
  auto again = bind_port_block(7600, f.binder(), f.unbinder());
  REQUIRE(again.ok());
  CHECK(again.value() == 7600);
  CHECK(f.bound == std::set<int>{7600, 7601, 7602});
}

TEST_CASE("port 0 binds a real block of three loopback ports") {
  LoopbackBinder b;
  auto r = bind_port_block(0, b.binder(), [&] { b.unbind(); });
  REQUIRE(r.ok());
  REQUIRE(r.value() > 0);
  REQUIRE(b.fds.size() == 3);
  for (int k = 0; k < 3; ++k) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(b.fds[k], reinterpret_cast<sockaddr*>(&a), &len) == 0);
    CHECK(ntohs(a.sin_port) == r.value() + k);
  }
  // That block is now held: asking for it explicitly fails, naming its first port.
  LoopbackBinder other;
  auto clash = bind_port_block(r.value(), other.binder(), [&] { other.unbind(); });
  REQUIRE_FALSE(clash.ok());
  CHECK_THAT(clash.error().message, Catch::StartsWith("port " + std::to_string(r.value()) + ": "));
  CHECK_THAT(clash.error().message, Catch::Contains("in use"));
  CHECK(other.fds.empty());
}

TEST_CASE("a free local port is claimed by its lock") {
  auto a = claim_free_local_port();
  REQUIRE(a.ok());
  auto b = claim_free_local_port();
  REQUIRE(b.ok());
  CHECK(a.value().port != b.value().port);
  CHECK(a.value().port >= 49152);
  CHECK(a.value().port <= 65533);
  auto dir = private_socket_dir(a.value().port, false);
  REQUIRE(dir.ok());
  CHECK(dir.value() == a.value().dir);
  CHECK_FALSE(FileLock::acquire(a.value().dir + "/lock").ok());   // held while the claim lives
  std::filesystem::remove_all(a.value().dir);
  std::filesystem::remove_all(b.value().dir);
}

TEST_CASE("local mode is chosen only when the daemon's private socket answers") {
  const int port = 65000 + static_cast<int>(::getpid() % 500);
  auto dir = private_socket_dir(port, true);
  REQUIRE(dir.ok());
  std::string sock = local_socket(dir.value(), 2);
  Address a{"127.0.0.1", port, "", ""};

  listen_unix(sock, false);
  CHECK(prefer_local(a).local_dir.empty());   // a stale file is not a daemon

  int fd = listen_unix(sock, true);
  CHECK(prefer_local(a).local_dir == dir.value());
  CHECK(prefer_local(Address{"10.1.2.3", port, "", ""}).local_dir.empty());   // never for another host
  ::close(fd);
  std::filesystem::remove_all(dir.value());
}

TEST_CASE("a second holder of a file lock is refused") {
  auto dir = private_runtime_dir(true);
  REQUIRE(dir.ok());
  std::string path = dir.value() + "/test-lock-" + std::to_string(::getpid());
  auto first = FileLock::acquire(path);
  REQUIRE(first.ok());
  auto second = FileLock::acquire(path);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().message.find("held by another process") != std::string::npos);
  ::unlink(path.c_str());
}
