// DaemonConnection: the client end of the client endpoint (DEALER). Requests carry an id so
// replies, build events and blob chunks interleave on one socket.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/address.h"
#include "common/clock.h"
#include "common/result.h"
#include "proto/security.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace zbuild::client {

class DaemonConnection {
 public:
  explicit DaemonConnection(Address addr, std::optional<proto::CurveClient> curve = std::nullopt);
  ~DaemonConnection();
  DaemonConnection(const DaemonConnection&) = delete;
  DaemonConnection& operator=(const DaemonConnection&) = delete;

  const Address& address() const { return addr_; }
  void send(const std::string& payload);
  // Waits up to timeout_ms for one message; nullopt on timeout.
  std::optional<std::string> recv(int64_t timeout_ms);
  uint64_t next_request_id() { return ++request_id_; }

  // Sends a StatusRequest and waits for the reply: the daemon is there. Retries until
  // wait_ms has passed (for --wait-daemon). Returns the status JSON. ping_early() sends the
  // first request now, so that the caller can do other work while the connection is made and
  // the daemon answers; the next ping() waits for that answer first.
  void ping_early();
  Result<std::string> ping(int64_t wait_ms);

 private:
  Address addr_;
  std::optional<proto::CurveClient> curve_;
  bool curve_used_ = false;   // this connection speaks CURVE (not the private Unix socket)
  std::unique_ptr<zmq::context_t> ctx_;
  std::unique_ptr<zmq::socket_t> sock_;
  std::unique_ptr<proto::HandshakeWatch> watch_;
  const Clock& clock_ = steady_clock();   // ping's deadlines
  uint64_t request_id_ = 0;
  uint64_t early_ping_ = 0;   // ping_early()'s request, not answered yet
  void reconnect();
};

}  // namespace zbuild::client
