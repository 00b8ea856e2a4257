#include "runner/zmtp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/clock.h"

namespace zbuild::runner {

namespace {

constexpr uint8_t kMore = 0x01, kLong = 0x02, kCommand = 0x04;

// The 64-byte greeting: signature, version 3.0, mechanism NULL, as-server 0, filler.
std::string greeting() {
  std::string g(64, '\0');
  g[0] = static_cast<char>(0xff);
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 0;
  std::memcpy(&g[12], "NULL", 4);
  return g;
}

// The header of a last (or only) frame of `n` bytes: flags, then a 1- or 8-byte size.
std::string frame_header(uint8_t flags, size_t n) {
  std::string h;
  if (n <= 255) {
    h.push_back(static_cast<char>(flags));
    h.push_back(static_cast<char>(n));
  } else {
    h.push_back(static_cast<char>(flags | kLong));
    for (int i = 7; i >= 0; --i) h.push_back(static_cast<char>((uint64_t{n} >> (8 * i)) & 0xff));
  }
  return h;
}

// A command frame: name (short string) then body.
std::string command(std::string_view name, std::string_view body) {
  std::string c;
  c.push_back(static_cast<char>(name.size()));
  c.append(name);
  c.append(body);
  return frame_header(kCommand, c.size()) + c;
}

std::string property(std::string_view name, std::string_view value) {
  std::string p;
  p.push_back(static_cast<char>(name.size()));
  p.append(name);
  uint32_t n = static_cast<uint32_t>(value.size());
  for (int i = 3; i >= 0; --i) p.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  p.append(value);
  return p;
}

int open_connection(const Address& a, int port, int timeout_ms, std::string* err) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  std::string host = a.host == "localhost" ? "127.0.0.1" : a.host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (!a.local_dir.empty()) {   // local mode: the daemon's private Unix socket
    auto* un = reinterpret_cast<sockaddr_un*>(&ss);
    std::string path = local_socket(a.local_dir, port - a.port);
    if (path.size() >= sizeof un->sun_path) {
      *err = "socket path too long: " + path;
      return -1;
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
    len = sizeof *un;
  } else if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(a.host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) {
      *err = "cannot resolve " + a.host;
      return -1;
    }
    std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    ::freeaddrinfo(res);
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int soerr = ETIMEDOUT;
    if (::poll(&p, 1, timeout_ms) == 1) {
      socklen_t el = sizeof soerr;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) != 0) soerr = errno;
    }
    rc = soerr == 0 ? 0 : -1;
    errno = soerr;
  }
  if (rc != 0) {
    *err = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  if (ss.ss_family != AF_UNIX) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

ZmtpDealer::~ZmtpDealer() {
  if (fd_ >= 0) ::close(fd_);
}

Status ZmtpDealer::connect(const Address& a, int port, int timeout_ms, std::string_view first) {
  std::string err;
  fd_ = open_connection(a, port, timeout_ms, &err);
  std::string where = a.host + ":" + std::to_string(port);
  if (fd_ < 0) return make_error(where + ": " + err);
  std::string hello = greeting() + command("READY", property("Socket-Type", "DEALER") + property("Identity", ""));
  ZB_TRY(write_all(hello.data(), hello.size()));
  int64_t deadline = mono_ms() + timeout_ms;
  unsigned char g[64];
  auto got = read_exact(g, sizeof g, deadline, false);
  if (!got.ok()) return make_error(where + ": " + got.error().message);
  if (!got.value()) return make_error(where + ": no ZMTP greeting within " + std::to_string(timeout_ms) + " ms");
  if (g[0] != 0xff || g[9] != 0x7f || g[10] < 3) return make_error(where + ": the peer does not speak ZMTP 3");
  if (std::memcmp(g + 12, "CURVE", 6) == 0) {
    return make_error(where + ": the daemon requires CurveZMQ, which zbuild-cc does not speak (docs/runner.md)");
  }
  if (std::memcmp(g + 12, "NULL", 5) != 0) return make_error(where + ": the daemon asks for an unknown security mechanism");
  for (;;) {   // the peer's READY
    bool more = false, cmd = false;
    auto f = read_frame(deadline, &more, &cmd);
    if (!f.ok()) return make_error(where + ": " + f.error().message);
    if (!f.value()) return make_error(where + ": no READY within " + std::to_string(timeout_ms) + " ms");
    std::string_view body = *f.value();
    if (!cmd) return make_error(where + ": data before READY");
    if (body.substr(0, 6) == "\x05READY") return first.empty() ? Status() : send(first);
    if (body.substr(0, 6) == "\x05" "ERROR") return make_error(where + ": peer refused: ERROR");
  }
}

Status ZmtpDealer::write_all(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return make_error(std::string("send: ") + std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

Status ZmtpDealer::send(std::string_view payload) {
  std::string h = frame_header(0, payload.size());
  char* hdr = h.data();
  size_t hn = h.size();
  iovec iov[2] = {{hdr, hn}, {const_cast<char*>(payload.data()), payload.size()}};
  size_t total = hn + payload.size();
  ssize_t w;
  do {
    w = ::writev(fd_, iov, 2);
  } while (w < 0 && errno == EINTR);
  if (w < 0) return make_error(std::string("send: ") + std::strerror(errno));
  size_t done = static_cast<size_t>(w);
  if (done < hn) {
    ZB_TRY(write_all(hdr + done, hn - done));
    done = hn;
  }
  if (done < total) ZB_TRY(write_all(payload.data() + (done - hn), total - done));
  return {};
}

Result<bool> ZmtpDealer::read_exact(void* out, size_t n, int64_t deadline_ms, bool started) {
  char* dst = static_cast<char*>(out);
  if (!rbuf_) rbuf_ = std::make_unique<char[]>(kReadBuffer);
  while (n > 0) {
    if (rpos_ < rlen_) {
      size_t take = std::min(n, rlen_ - rpos_);
      std::memcpy(dst, rbuf_.get() + rpos_, take);
      rpos_ += take;
      dst += take;
      n -= take;
      started = true;
      continue;
    }
    pollfd p{fd_, POLLIN, 0};
    int wait = static_cast<int>(std::max<int64_t>(0, deadline_ms - mono_ms()));
    int pr = ::poll(&p, 1, wait);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      if (!started) return false;
      return make_error("connection stalled in the middle of a frame");
    }
    // A large remainder goes straight to its destination; small reads go through the buffer.
    bool direct = n >= kReadBuffer;
    ssize_t r = ::recv(fd_, direct ? dst : rbuf_.get(), direct ? n : kReadBuffer, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      return make_error(r == 0 ? "connection closed by the daemon" : std::string("recv: ") + std::strerror(errno));
    }
    if (direct) {
      dst += r;
      n -= static_cast<size_t>(r);
      started = true;
    } else {
      rpos_ = 0;
      rlen_ = static_cast<size_t>(r);
    }
  }
  return true;
}

Result<std::optional<std::string_view>> ZmtpDealer::read_frame(int64_t deadline_ms, bool* more, bool* cmd) {
  unsigned char flags = 0;
  auto r = read_exact(&flags, 1, deadline_ms, false);
  if (!r.ok()) return r.error();
  if (!r.value()) return std::optional<std::string_view>();
  uint64_t size = 0;
  if (flags & kLong) {
    unsigned char b[8];
    ZB_TRY(read_exact(b, 8, deadline_ms, true));
    for (unsigned char c : b) size = (size << 8) | c;
  } else {
    unsigned char b = 0;
    ZB_TRY(read_exact(&b, 1, deadline_ms, true));
    size = b;
  }
  if (size > max_message) return make_error("frame of " + std::to_string(size) + " bytes exceeds the cap");
  *more = flags & kMore;
  *cmd = flags & kCommand;
  if (size > frame_cap_) {   // grows, never shrinks: one allocation for a whole run of chunks
    frame_cap_ = std::max<size_t>(static_cast<size_t>(size), 2 * frame_cap_);
    frame_ = std::make_unique_for_overwrite<char[]>(frame_cap_);
  }
  if (size) ZB_TRY(read_exact(frame_.get(), static_cast<size_t>(size), deadline_ms, true));
  return std::optional<std::string_view>(std::string_view(frame_.get(), static_cast<size_t>(size)));
}

Result<std::optional<std::string_view>> ZmtpDealer::recv(int64_t timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  for (;;) {
    bool more = false, cmd = false;
    auto f = read_frame(deadline, &more, &cmd);
    if (!f.ok() || !f.value()) return f;
    std::string_view body = *f.value();
    if (cmd) {
      if (body.size() >= 5 && body.substr(0, 5) == "\x04PING") {
        // PING: name, TTL (2 bytes), context; PONG echoes the context.
        std::string pong = command("PONG", body.size() > 7 ? body.substr(7) : std::string_view());
        ZB_TRY(write_all(pong.data(), pong.size()));
      } else if (body.size() >= 6 && body.substr(0, 6) == "\x05" "ERROR") {
        return make_error("the daemon closed the connection (ZMTP ERROR)");
      }
      continue;
    }
    while (more) {   // keep the last frame of a multipart message
      bool c2 = false;
      auto next = read_frame(mono_ms() + 10000, &more, &c2);
      if (!next.ok()) return next;
      if (!next.value()) return make_error("multipart message cut short");
      body = *next.value();
    }
    return std::optional<std::string_view>(body);
  }
}

}  // namespace zbuild::runner
