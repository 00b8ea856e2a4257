#include "common/address.h"

#include <fcntl.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <random>

namespace zbuild {

std::string Address::endpoint(int offset) const {
  if (!inproc.empty()) return "inproc://" + inproc + "-" + local_socket("", offset).substr(1);
  if (!local_dir.empty()) return "ipc://" + local_socket(local_dir, offset);
  return "tcp://" + host + ":" + std::to_string(port + offset);
}

std::string local_socket(const std::string& dir, int offset) {
  static const char* names[] = {"workers", "results", "clients"};
  return dir + "/" + names[offset < 0 || offset > 2 ? 2 : offset];
}

namespace {

Status check_private(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return make_error(dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return make_error(dir + " is not a folder (a symlink?)");
  if (st.st_uid != ::getuid()) return make_error(dir + " belongs to another user");
  if (st.st_mode & 077) return make_error(dir + " is open to group or others (mode " + std::to_string(st.st_mode & 0777) + ")");
  return {};
}

Status make_private(const std::string& dir, bool create) {
  if (create && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error("cannot create " + dir + ": " + std::strerror(errno));
  }
  return check_private(dir);
}

}  // namespace

Result<std::string> private_socket_dir(int port, bool create) {
  auto base = private_runtime_dir(create);
  if (!base.ok()) return base.error();
  std::string dir = base.value() + "/" + std::to_string(port);
  auto st = make_private(dir, create);
  if (!st.ok()) return make_error("local socket folder is not private: " + st.error().message);
  return dir;
}

Result<std::string> private_runtime_dir(bool create) {
  // Independent of the environment, so every process of the user agrees on it.
  std::string uid = std::to_string(::getuid());
  std::string run = "/run/user/" + uid;
  struct stat rs {};
  std::string base = ::lstat(run.c_str(), &rs) == 0 && S_ISDIR(rs.st_mode) && rs.st_uid == ::getuid()
                         ? run + "/zbuild-sockets"
                         : "/tmp/zbuild-sockets-" + uid;
  auto st = make_private(base, create);
  if (!st.ok()) return make_error("local socket folder is not private: " + st.error().message);
  return base;
}

Address prefer_local(Address a, int offset) {
  if (!a.local_dir.empty() || !a.is_this_host()) return a;
  auto dir = private_socket_dir(a.port, false);
  if (!dir.ok()) return a;
  // A socket file alone is not a daemon: one killed with SIGKILL leaves its files behind, and
  // the port may now name a TCP daemon. Only a socket that accepts a connection counts.
  std::string path = local_socket(dir.value(), offset);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return a;
  sockaddr_un un{};
  if (path.size() >= sizeof un.sun_path) return a;
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return a;
  bool alive = ::connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0;
  ::close(fd);
  if (alive) a.local_dir = dir.value();
  return a;
}

Result<FileLock> FileLock::acquire(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return make_error(path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return make_error(path + " is held by another process");
    return make_error(path + ": " + std::strerror(e));
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool Address::is_loopback() const {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

bool Address::is_this_host() const {
  if (is_loopback()) return true;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* i = list; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, buf, sizeof buf);
    } else {
      continue;
    }
    found = host == buf;
  }
  ::freeifaddrs(list);
  return found;
}

namespace {

constexpr int kMaxPort = 65533;   // PORT+2 is the last port of a block

Result<Address> parse(std::string_view text, int min_port, const char* range) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return make_error("address '" + std::string(text) + "' is not HOST:PORT");
  }
  Address a;
  a.host = std::string(text.substr(0, colon));
  auto ps = text.substr(colon + 1);
  auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), a.port);
  if (ec != std::errc() || p != ps.data() + ps.size() || a.port < min_port || a.port > kMaxPort) {
    return make_error("address '" + std::string(text) + "': bad port (" + range + ", uses PORT..PORT+2)");
  }
  return a;
}

}  // namespace

Result<Address> parse_address(std::string_view text) { return parse(text, 1, "1..65533"); }

Result<Address> parse_listen_address(std::string_view text) {
  return parse(text, 0, "1..65533, or 0 for free ports chosen by the daemon");
}

Result<int> bind_port_block(int port, const BindPort& bind, const std::function<void()>& unbind, int tries) {
  // Binds PORT+1 and PORT+2 after PORT; empty when all three are bound, else why not.
  auto rest = [&](int base) -> std::string {
    for (int k = 1; k < 3; ++k) {
      auto r = bind(k, base + k);
      if (!r.ok()) return "port " + std::to_string(base + k) + ": " + r.error().message;
    }
    return "";
  };
  if (port != 0) {
    auto first = bind(0, port);
    std::string why = first.ok() ? rest(port) : "port " + std::to_string(port) + ": " + first.error().message;
    if (why.empty()) return port;
    unbind();
    return make_error(why);
  }
  std::string last;
  for (int attempt = 0; attempt < tries; ++attempt) {
    auto first = bind(0, 0);
    if (!first.ok()) {
      unbind();
      return first.error();   // no port at all on this host: another block will not help
    }
    int base = first.value();
    last = base > 0 && base <= kMaxPort ? rest(base) : "port " + std::to_string(base) + ": no room for PORT+1, PORT+2";
    if (last.empty()) return base;
    unbind();
  }
  return make_error("no block of three free ports after " + std::to_string(tries) + " tries (last: " + last + ")");
}

Result<LocalPort> claim_free_local_port(int tries) {
  // From the dynamic range (49152..65533), clear of the ports registered services use, which
  // someone reading the address could take it for.
  std::random_device rd;
  std::uniform_int_distribution<int> pick(49152, kMaxPort);
  std::string last;
  for (int attempt = 0; attempt < tries; ++attempt) {
    int port = pick(rd);
    auto dir = private_socket_dir(port, true);
    if (!dir.ok()) {
      last = dir.error().message;
      continue;
    }
    auto lock = FileLock::acquire(dir.value() + "/lock");
    if (lock.ok()) return LocalPort{port, dir.value(), std::move(lock.value())};
    last = lock.error().message;
  }
  return make_error("no free local port after " + std::to_string(tries) + " tries (last: " + last + ")");
}

std::string daemon_address_from(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("ZBUILD_DAEMON"); env && *env) return env;
  return kDefaultDaemon;
}

}  // namespace zbuild
