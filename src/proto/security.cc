#include "proto/security.h"

#include <cstring>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/fs.h"
#include "proto/poll.h"

namespace zbuild::proto {

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

bool valid_z85_key(const std::string& k) {
  if (k.size() != 40) return false;
  uint8_t bin[32];
  return zmq_z85_decode(bin, k.c_str()) != nullptr;
}

}  // namespace

Result<KeyPair> generate_keypair() {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0) return make_error("this libzmq has no CURVE support");
  return KeyPair{pub, sec};
}

Result<KeyPair> load_secret_key(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error("secret key " + path + ": cannot read it");
  if (st.st_mode & 0077) {
    return make_error("secret key " + path + " is readable by others (mode " +
                      std::to_string(st.st_mode & 0777) + "): chmod 600 it");
  }
  auto text = read_file(path);
  if (!text.ok()) return text.error();
  std::string sec = trim(text.value());
  if (!valid_z85_key(sec)) return make_error("secret key " + path + ": not a 40-character Z85 key");
  char pub[41];
  if (zmq_curve_public(pub, sec.c_str()) != 0) return make_error("secret key " + path + ": CURVE unavailable");
  return KeyPair{pub, sec};
}

Result<std::string> load_public_key(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.error();
  std::string k = trim(text.value());
  if (!valid_z85_key(k)) return make_error("public key " + path + ": not a 40-character Z85 key");
  return k;
}

Result<std::set<std::string>> load_allow_list(const std::string& path) {
  std::set<std::string> out;
  if (path.empty()) return out;
  auto text = read_file(path);
  if (!text.ok()) return make_error("allow-list: " + text.error().message);
  std::istringstream in(text.value());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    std::string key = t.substr(0, t.find_first_of(" \t"));
    if (!valid_z85_key(key)) {
      return make_error("allow-list " + path + ":" + std::to_string(n) + ": not a 40-character Z85 public key");
    }
    out.insert(key);
  }
  return out;
}

Status write_keypair(const std::string& dir, const std::string& name, const KeyPair& kp) {
  std::string base = dir + "/" + name;
  {
    // The secret is created 0600 from the start, never world-readable for a moment.
    auto tmp = base + ".key.tmp";
    std::remove(tmp.c_str());
    mode_t old = ::umask(0077);
    std::ofstream f(tmp);
    ::umask(old);
    f << kp.secret_z85 << "\n";
    f.close();
    if (!f) return make_error(tmp + ": cannot write");
    ::chmod(tmp.c_str(), 0600);
    if (std::rename(tmp.c_str(), (base + ".key").c_str()) != 0) return make_error(base + ".key: cannot write");
  }
  return write_file_atomic(base + ".pub", kp.public_z85 + "\n");
}

CurveServer::CurveServer(zmq::context_t& ctx, KeyPair server, std::string workers_file, std::string clients_file,
                         Logger log)
    : ctx_(ctx),
      server_(std::move(server)),
      workers_file_(std::move(workers_file)),
      clients_file_(std::move(clients_file)),
      log_(std::move(log)) {}

CurveServer::~CurveServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Status CurveServer::reload() {
  auto w = load_allow_list(workers_file_);
  if (!w.ok()) return w.error();
  auto c = load_allow_list(clients_file_);
  if (!c.ok()) return c.error();
  std::lock_guard<std::mutex> lock(mu_);
  workers_ = std::move(w.value());
  clients_ = std::move(c.value());
  log_("allow-lists loaded: " + std::to_string(workers_.size()) + " worker key(s), " +
       std::to_string(clients_.size()) + " client key(s)");
  return {};
}

Status CurveServer::start() {
  ZB_TRY(reload());
  zap_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::rep);
  zap_->set(zmq::sockopt::linger, 0);
  zap_->bind("inproc://zeromq.zap.01");
  thread_ = std::thread([this] { run(); });
  return {};
}

bool CurveServer::allowed(const std::string& domain, const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (domain == kWorkersDomain) return workers_.count(key) > 0;
  if (domain == kClientsDomain) return clients_.count(key) > 0;
  return false;
}

void CurveServer::run() {
  // ZAP (RFC 27): request = version, request id, domain, address, identity, mechanism,
  // credentials...; reply = version, request id, status code, status text, user id, metadata.
  while (!stop_) {
    zmq::pollitem_t item{zap_->handle(), 0, ZMQ_POLLIN, 0};
    if (poll_interruptible(&item, 1, std::chrono::milliseconds(100)) <= 0) continue;
    std::vector<zmq::message_t> req;
    if (!zmq::recv_multipart(*zap_, std::back_inserter(req), zmq::recv_flags::dontwait)) continue;
    std::string status = "400", text = "malformed ZAP request", user;
    std::string version = req.size() > 0 ? req[0].to_string() : "1.0";
    std::string id = req.size() > 1 ? req[1].to_string() : "";
    if (req.size() >= 6 && req[2].to_string() == kPrivateClientsDomain && req[5].to_string() == "NULL") {
      status = "200";
      text = "OK";
      user = "private";
    } else if (req.size() >= 7) {
      std::string domain = req[2].to_string();
      std::string address = req[3].to_string();
      std::string mechanism = req[5].to_string();
      if (mechanism == "CURVE" && req[6].size() == 32) {
        char z85[41];
        zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
        std::string key = z85;
        if (allowed(domain, key)) {
          status = "200";
          text = "OK";
          user = key;
        } else {
          status = "400";
          text = "key not allowed";
          refused_++;
          log_("refused a " + std::string(domain == kClientsDomain ? "client" : "worker") + " from " + address +
               " with key " + key + " (not on the " + domain + " allow-list)");
        }
      } else {
        refused_++;
        log_("refused a peer from " + address + ": mechanism " + mechanism + " is not CURVE");
      }
    }
    std::vector<zmq::const_buffer> rep{zmq::buffer(version), zmq::buffer(id), zmq::buffer(status),
                                       zmq::buffer(text), zmq::buffer(user), zmq::const_buffer()};
    (void)zmq::send_multipart(*zap_, rep);
  }
}

void CurveServer::apply(zmq::socket_t& s, const char* domain) const {
  s.set(zmq::sockopt::curve_server, 1);
  s.set(zmq::sockopt::curve_secretkey, server_.secret_z85);
  s.set(zmq::sockopt::zap_domain, domain);
}

void CurveClient::apply(zmq::socket_t& s) const {
  s.set(zmq::sockopt::curve_serverkey, server_public);
  s.set(zmq::sockopt::curve_publickey, own.public_z85);
  s.set(zmq::sockopt::curve_secretkey, own.secret_z85);
}

Result<std::optional<CurveClient>> load_curve_client(const std::string& key_file, const std::string& daemon_pub_file) {
  std::string k = key_file, d = daemon_pub_file;
  if (k.empty()) {
    if (const char* e = std::getenv("ZBUILD_CURVE_KEY")) k = e;
  }
  if (d.empty()) {
    if (const char* e = std::getenv("ZBUILD_DAEMON_KEY")) d = e;
  }
  if (k.empty() && d.empty()) return std::optional<CurveClient>();
  if (k.empty() || d.empty()) {
    return make_error("CURVE needs both this peer's secret key (--curve-key / ZBUILD_CURVE_KEY) and the daemon's "
                      "public key (--daemon-key / ZBUILD_DAEMON_KEY)");
  }
  auto own = load_secret_key(k);
  if (!own.ok()) return own.error();
  auto srv = load_public_key(d);
  if (!srv.ok()) return srv.error();
  return std::optional<CurveClient>(CurveClient{own.value(), srv.value()});
}

}  // namespace zbuild::proto

namespace zbuild::proto {

HandshakeWatch::HandshakeWatch(zmq::context_t& ctx, zmq::socket_t& s, const std::string& name) {
  std::string ep = "inproc://zbuild-handshake-" + name;
  if (zmq_socket_monitor(s.handle(), ep.c_str(),
                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0) {
    pair_ = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pair);
    pair_->set(zmq::sockopt::linger, 0);
    pair_->connect(ep);
  }
}

HandshakeWatch::~HandshakeWatch() = default;

std::optional<std::string> HandshakeWatch::failure(bool have_keys) {
  if (!pair_) return std::nullopt;
  for (;;) {
    zmq::message_t ev, where;
    if (!pair_->recv(ev, zmq::recv_flags::dontwait)) break;
    if (ev.more()) (void)pair_->recv(where, zmq::recv_flags::dontwait);
    if (ev.size() >= 6) {
      std::memcpy(&last_event_, ev.data(), 2);
      std::memcpy(&last_value_, static_cast<const char*>(ev.data()) + 2, 4);
    }
  }
  switch (last_event_) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      return std::string("the daemon refused this peer's CurveZMQ key (not on its allow-list for this role)");
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      if (last_value_ == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH || last_event_ == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        return have_keys ? std::string("the daemon does not use CurveZMQ keys (drop --curve-key/--daemon-key)")
                         : std::string("the daemon requires CurveZMQ keys (--curve-key FILE --daemon-key FILE, or "
                                       "$ZBUILD_CURVE_KEY and $ZBUILD_DAEMON_KEY)");
      }
      return std::string("the CurveZMQ handshake with the daemon failed (wrong daemon public key?)");
    default:
      return std::nullopt;
  }
}

}  // namespace zbuild::proto
