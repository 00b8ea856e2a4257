// A minimal ZeroMQ DEALER for zbuild-cc: ZMTP 3.0 with the NULL mechanism over one blocking
// TCP connection (RFC 23/ZMTP), enough to talk to the daemon's client ROUTER.
//
// Why not libzmq: a runner lives for one compile, and loading libzmq with its dependency chain
// (sodium, pgm, norm, gssapi/krb5), creating a context and its I/O thread cost more than the
// whole cache hit (measured in docs/runner.md). This speaks the same wire protocol to the
// same daemon socket; the daemon cannot tell the difference.
//
// Supported: greeting (version 3.0, NULL, as-client), READY with Socket-Type=DEALER, single-
// and multi-frame messages with short and long sizes (a multi-frame message is returned as
// its last frame, which is all a ROUTER->DEALER reply of zbuild's protocol holds), PING
// answered with PONG, ERROR reported. Not supported: CURVE/PLAIN (the daemon binds loopback
// without keys; see docs/security.md, "Roles and sockets"), reconnecting (a runner that loses its daemon falls back).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/address.h"
#include "common/result.h"

namespace zbuild::runner {

class ZmtpDealer {
 public:
  ZmtpDealer() = default;
  ~ZmtpDealer();
  ZmtpDealer(const ZmtpDealer&) = delete;
  ZmtpDealer& operator=(const ZmtpDealer&) = delete;

  // Connects to `port` of the address's host and completes the handshake within
  // `timeout_ms`; a refused connection fails at once. `first`, when not empty, is sent as soon
  // as the peer is READY. (Not earlier: libzmq drops a connection whose first message arrives
  // before it has finished its side of the handshake.)
  Status connect(const Address& a, int port, int timeout_ms, std::string_view first = {});
  Status send(std::string_view payload);
  // One message, or nullopt on timeout; an error when the connection broke. The view is valid
  // until the next recv (the buffer is reused: no allocation per message).
  Result<std::optional<std::string_view>> recv(int64_t timeout_ms);
  size_t max_message = 128u << 20;

 private:
  Status write_all(const void* data, size_t n);
  // Reads exactly n bytes (waiting at most until `deadline_ms`; 0 bytes read so far and a
  // timeout gives nullopt, a timeout mid-frame is an error).
  Result<bool> read_exact(void* out, size_t n, int64_t deadline_ms, bool started);
  Result<std::optional<std::string_view>> read_frame(int64_t deadline_ms, bool* more, bool* command);

  static constexpr size_t kReadBuffer = 16 * 1024;
  int fd_ = -1;
  std::unique_ptr<char[]> rbuf_;   // bytes received ahead of the frame being read
  size_t rpos_ = 0, rlen_ = 0;
  std::unique_ptr<char[]> frame_;  // the current frame
  size_t frame_cap_ = 0;
};

}  // namespace zbuild::runner
