#include "client/connection.h"

#include <chrono>
#include <zmq.hpp>

#include "proto/wire.h"
#include "proto/poll.h"

namespace zbuild::client {

DaemonConnection::DaemonConnection(Address addr, std::optional<proto::CurveClient> curve)
    : addr_(std::move(addr)), curve_(std::move(curve)), ctx_(std::make_unique<zmq::context_t>()) {
  reconnect();
}

DaemonConnection::~DaemonConnection() {
  watch_.reset();
  sock_.reset();
  ctx_.reset();
}

void DaemonConnection::reconnect() {
  static int seq = 0;
  watch_.reset();
  sock_ = std::make_unique<zmq::socket_t>(*ctx_, zmq::socket_type::dealer);
  watch_ = std::make_unique<proto::HandshakeWatch>(*ctx_, *sock_, "client-" + std::to_string(++seq));
  sock_->set(zmq::sockopt::linger, 0);
  sock_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(proto::kMaxClientMessage));
  sock_->set(zmq::sockopt::rcvhwm, 0);
  sock_->set(zmq::sockopt::sndhwm, 0);
  // A same-user daemon on this host is reached through its private Unix socket, keys or not
  // (a keyed daemon binds one for its own user beside the CURVE port); elsewhere over TCP.
  Address at = prefer_local(addr_);
  curve_used_ = curve_ && at.local_dir.empty();
  if (curve_used_) curve_->apply(*sock_);
  sock_->connect(at.client());
}

void DaemonConnection::send(const std::string& payload) { (void)sock_->send(zmq::buffer(payload), zmq::send_flags::none); }

std::optional<std::string> DaemonConnection::recv(int64_t timeout_ms) {
  zmq::pollitem_t item{sock_->handle(), 0, ZMQ_POLLIN, 0};
  if (proto::poll_interruptible(&item, 1, std::chrono::milliseconds(timeout_ms)) <= 0) return std::nullopt;
  zmq::message_t m;
  if (!sock_->recv(m, zmq::recv_flags::dontwait)) return std::nullopt;
  return m.to_string();
}

void DaemonConnection::ping_early() {
  early_ping_ = next_request_id();
  flatbuffers::FlatBufferBuilder fbb(64);
  send(proto::finish(fbb, wire::CreateStatusRequest(fbb), early_ping_));
}

Result<std::string> DaemonConnection::ping(int64_t wait_ms) {
  Deadline overall(clock_, wait_ms);
  for (;;) {
    uint64_t rid = early_ping_;
    early_ping_ = 0;
    if (!rid) {
      rid = next_request_id();
      flatbuffers::FlatBufferBuilder fbb(64);
      send(proto::finish(fbb, wire::CreateStatusRequest(fbb), rid));
    }
    Deadline attempt(clock_, std::max<int64_t>(1000, std::min<int64_t>(3000, wait_ms)));
    while (!attempt.expired()) {
      auto m = recv(attempt.remaining_ms());
      if (!m) break;
      auto env = proto::decode(m->data(), m->size(), proto::kMaxClientMessage);
      if (!env.ok()) continue;
      if (env.value()->request_id() == rid && env.value()->body_type() == wire::Body::StatusReply) {
        return proto::str(env.value()->body_as_StatusReply()->json());
      }
    }
    if (auto why = watch_->failure(curve_used_)) return make_error("daemon " + addr_.str() + ": " + *why);
    if (overall.expired()) {
      return make_error("no zbuild daemon answers at " + addr_.str() +
                        " (start one with `zbuild daemon --listen " + addr_.str() + "`)");
    }
    reconnect();   // drop requests queued for a daemon that never answered
  }
}

}  // namespace zbuild::client
