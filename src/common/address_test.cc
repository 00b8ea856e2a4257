#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

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
}  // namespace

TEST_CASE("local mode is chosen only when the daemon's private socket answers") {
  const int port = 65000 + static_cast<int>(::getpid() % 500);
  auto dir = private_socket_dir(port, true);
  REQUIRE(dir.ok());
  std::string sock = local_socket(dir.value(), 2);
  Address a{"127.0.0.1", port, ""};

  listen_unix(sock, false);
  CHECK(prefer_local(a).local_dir.empty());   // a stale file is not a daemon

  int fd = listen_unix(sock, true);
  CHECK(prefer_local(a).local_dir == dir.value());
  CHECK(prefer_local(Address{"10.1.2.3", port, ""}).local_dir.empty());   // never for another host
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
