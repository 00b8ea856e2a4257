// CurveZMQ on every socket: key files, server/client socket options, and the ZAP handler that
// admits only allow-listed public keys — workers on the ventilator and sink (ZAP domain
// "workers"), clients on the client endpoint (domain "clients"). A peer not on the list is
// refused and logged with its key. Allow-lists are re-read on reload() (SIGHUP).
//
// Key files (format 1): Z85 text, 40 characters, one key per file; `NAME.key` holds the secret
// (mode 0600), `NAME.pub` the public key. Allow-list files: one Z85 public key per line; blank
// lines and lines starting with '#' are ignored; anything after the key on a line is a comment.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/result.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace zbuild::proto {

struct KeyPair {
  std::string public_z85;
  std::string secret_z85;
};

Result<KeyPair> generate_keypair();
// Reads a secret key file and derives its public key. Refuses a file others can read.
Result<KeyPair> load_secret_key(const std::string& path);
Result<std::string> load_public_key(const std::string& path);
Result<std::set<std::string>> load_allow_list(const std::string& path);
Status write_keypair(const std::string& dir, const std::string& name, const KeyPair& kp);

constexpr const char* kWorkersDomain = "workers";
constexpr const char* kClientsDomain = "clients";
// The keyed daemon's private Unix socket for its own user's clients (NULL mechanism; the
// owner-only folder is the check). Only a listener bound with this domain asks for it.
constexpr const char* kPrivateClientsDomain = "private-clients";

// The daemon side: a ZAP handler thread plus the server options for each socket.
class CurveServer {
 public:
  using Logger = std::function<void(const std::string&)>;
  CurveServer(zmq::context_t& ctx, KeyPair server, std::string workers_file, std::string clients_file, Logger log);
  ~CurveServer();
  Status start();                       // loads the lists, starts the ZAP handler
  Status reload();                      // re-reads both allow-lists
  void apply(zmq::socket_t& s, const char* domain) const;   // before bind()
  uint64_t refused() const { return refused_.load(); }

 private:
  void run();
  bool allowed(const std::string& domain, const std::string& key_z85);

  zmq::context_t& ctx_;
  KeyPair server_;
  std::string workers_file_, clients_file_;
  Logger log_;
  std::mutex mu_;
  std::set<std::string> workers_, clients_;
  std::unique_ptr<zmq::socket_t> zap_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
};

// The peer side (worker or client): own key pair and the daemon's public key.
struct CurveClient {
  KeyPair own;
  std::string server_public;
  void apply(zmq::socket_t& s) const;   // before connect()
};

// Watches a connecting socket's handshakes (a ZMQ socket monitor), so a peer refused for its
// keys is told so instead of waiting on a daemon that will never answer.
class HandshakeWatch {
 public:
  HandshakeWatch(zmq::context_t& ctx, zmq::socket_t& s, const std::string& name);
  ~HandshakeWatch();
  // Why the last handshake failed ("... refused this peer's key", "... requires CurveZMQ
  // keys", ...), or nullopt when none failed since the last success. Never blocks.
  std::optional<std::string> failure(bool have_keys);

 private:
  std::unique_ptr<zmq::socket_t> pair_;
  uint16_t last_event_ = 0;
  uint32_t last_value_ = 0;
};

// Loads client-side keys: explicit files, else $ZBUILD_CURVE_KEY / $ZBUILD_DAEMON_KEY, else
// nothing (plain TCP, for loopback daemons without keys). Error when only one is given.
Result<std::optional<CurveClient>> load_curve_client(const std::string& key_file, const std::string& daemon_pub_file);

}  // namespace zbuild::proto
