// Daemon addresses. One HOST:PORT names a daemon: PORT is the ventilator (workers),
// PORT+1 the sink (results), PORT+2 the client endpoint.
//
// Local mode (private by default; docs/security.md, "Roles and sockets"): a daemon on a loopback
// address without keys and without --insecure binds no TCP port at all; its three sockets are Unix
// sockets in a folder only its user can enter — /run/user/UID/zbuild-sockets/PORT when
// /run/user/UID is the user's, else /tmp/zbuild-sockets-UID/PORT — which must be owned by the user
// and closed to group and others (the path does not depend on the environment, so every process of
// the user agrees). Workers, clients and zbuild-cc of the same user given the loopback address find
// the sockets there (prefer_local); another local user finds nothing to connect to.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace zbuild {

constexpr const char* kDefaultDaemon = "127.0.0.1:7600";

struct Address {
  std::string host;
  int port = 0;
  std::string local_dir;   // non-empty: local mode, endpoints are ipc:// sockets in this folder
  // Non-empty: the daemon's in-process endpoints (inproc://NAME-workers, -results), reachable
  // only from inside the daemon's own process through its ZeroMQ context (its local slots).
  std::string inproc;

  std::string ventilator() const { return endpoint(0); }
  std::string sink() const { return endpoint(1); }
  std::string client() const { return endpoint(2); }
  std::string endpoint(int offset) const;
  std::string str() const { return inproc.empty() ? host + ":" + std::to_string(port) : "in-process"; }
  bool is_loopback() const;
  // Loopback, or an address of one of this host's interfaces (getifaddrs).
  bool is_this_host() const;
};

Result<Address> parse_address(std::string_view text);
// As parse_address, and port 0 too: where the daemon listens, 0 asking it to choose its ports.
Result<Address> parse_listen_address(std::string_view text);

// Binds the block PORT, PORT+1, PORT+2 through `bind(offset, port)`, which binds endpoint
// `offset` and returns the port it got (offset 0 with port 0: any port the system picks).
// `unbind()` releases whatever the attempt bound. An explicit port binds that block or fails
// naming the port that was taken. Port 0 lets the first bind choose and tries up to `tries`
// blocks while PORT+1 or PORT+2 is taken: the binder retries, nothing is probed first.
using BindPort = std::function<Result<int>(int offset, int port)>;
Result<int> bind_port_block(int port, const BindPort& bind, const std::function<void()>& unbind, int tries = 64);

// The user's private folder for the local daemon on `port` (created 0700 when `create`).
// Fails, naming the folder, when it (or its parent) is not owned by the user or is open to
// group or others, or is a symlink.
Result<std::string> private_socket_dir(int port, bool create);
// The folder holding those per-port folders (and the user's workspace-daemon locks).
Result<std::string> private_runtime_dir(bool create);

// `a` in local mode when it is a loopback address and a daemon of this user accepts connections
// on the endpoint `offset` (0 workers, 2 clients) in the private folder for a.port; otherwise `a`
// unchanged. A keyed daemon has only its client socket there.
Address prefer_local(Address a, int offset = 2);

// The Unix socket of one endpoint in local mode ("workers", "results", "clients").
std::string local_socket(const std::string& dir, int offset);

// Holds an exclusive lock on `path` (created 0600) while alive; fails at once when another
// process holds it.
class FileLock {
 public:
  static Result<FileLock> acquire(const std::string& path);
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Local mode's claim on a port number: its private folder, locked by this process while the
// claim lives (the lock is what keeps a second daemon of the user off that number).
struct LocalPort {
  int port = 0;
  std::string dir;
  FileLock lock;
};
// A port number no local daemon of this user holds, claimed by taking its folder's lock (a
// candidate whose lock is held is skipped), up to `tries` candidates. Local mode binds no
// TCP port, so the number is only a name: nothing on the network is asked.
Result<LocalPort> claim_free_local_port(int tries = 64);

// --daemon value if given, else $ZBUILD_DAEMON, else the default.
std::string daemon_address_from(const std::string& flag_value);

}  // namespace zbuild
