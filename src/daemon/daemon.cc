#include "daemon/daemon.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <deque>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/address.h"
#include "common/clock.h"
#include "common/command_policy.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/paths.h"
#include "common/log.h"
#include "common/text.h"
#include "common/toolchain_tree.h"
#include "daemon/action_cache.h"
#include "daemon/blob_pull.h"
#include "daemon/blob_service.h"
#include "daemon/registry.h"
#include "daemon/scheduler.h"
#include "daemon/status.h"
#include "proto/security.h"
#include "proto/poll.h"
#include "proto/wire.h"
#include "store/store.h"

namespace zbuild::daemon {

namespace fb = flatbuffers;
using proto::bytes;
using proto::str;

std::string default_store_dir() {
  std::string dir = user_cache_path("store");
  return dir.empty() ? "/tmp/zbuild-" + std::to_string(::getuid()) + "/store" : dir;
}

namespace {

class Daemon final : public SchedulerHost {
 public:
  Daemon(const DaemonOptions& opts, std::unique_ptr<store::Store> store)
      : opts_(opts),
        store_(std::move(store)),
        registry_(clock_, opts.liveness_ms),
        sched_(clock_, registry_, *this, opts.max_attempts, opts.retry_backoff_ms),
        vent_(ctx_, zmq::socket_type::router),
        sink_(ctx_, zmq::socket_type::pull),
        client_(ctx_, zmq::socket_type::router),
        monitor_(ctx_, zmq::socket_type::pair),
        client_monitor_(ctx_, zmq::socket_type::pair) {
    sched_.set_verify_rate(opts.verify_rate);
  }

  // Turns on CURVE for every socket (before bind) with a ZAP handler checking allow-lists.
  Status enable_curve(const DaemonOptions& o) {
    auto kp = proto::load_secret_key(o.curve_secret);
    if (!kp.ok()) return kp.error();
    curve_ = std::make_unique<proto::CurveServer>(ctx_, kp.value(), o.allow_workers, o.allow_clients,
                                                  [](const std::string& m) { log::warn(m); });
    ZB_TRY(curve_->start());
    curve_->apply(vent_, proto::kWorkersDomain);
    curve_->apply(sink_, proto::kWorkersDomain);
    curve_->apply(client_, proto::kClientsDomain);
    log::info("CURVE on: daemon public key " + kp.value().public_z85);
    return {};
  }

  void reload_keys() {
    if (!curve_) return;
    auto r = curve_->reload();
    if (!r.ok()) log::error("SIGHUP: keeping the old allow-lists: " + r.error().message);
  }

  // Binds the three sockets. A TCP address with port 0 gets a block the system has free:
  // `a.port` is set to the port bound.
  Status bind(Address& a) {
    try {
      vent_.set(zmq::sockopt::router_mandatory, 1);
      vent_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(proto::kMaxWorkerMessage));
      vent_.set(zmq::sockopt::sndhwm, 100000);
      vent_.set(zmq::sockopt::linger, 0);
      sink_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(proto::kMaxSinkMessage));
      sink_.set(zmq::sockopt::linger, 0);
      client_.set(zmq::sockopt::router_mandatory, 1);
      client_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(proto::kMaxClientMessage));
      client_.set(zmq::sockopt::sndhwm, 100000);
      client_.set(zmq::sockopt::linger, 0);
      // A worker whose connection drops (the process died, the host went away) is noticed at
      // once instead of after the liveness window: the monitor reports the disconnect and a
      // probe send to every worker finds which one is gone.
      if (zmq_socket_monitor(vent_.handle(), "inproc://zbuild-ventilator-monitor", ZMQ_EVENT_DISCONNECTED) == 0) {
        monitor_.connect("inproc://zbuild-ventilator-monitor");
      }
      // A client that goes away (killed, lost its network) has its builds cancelled: the
      // disconnect triggers a probe of the builds' clients, as for workers (connections are
      // told apart by their accept events: a_builds_client_may_have_closed).
      if (zmq_socket_monitor(client_.handle(), "inproc://zbuild-client-monitor",
                             ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) == 0) {
        client_monitor_.connect("inproc://zbuild-client-monitor");
      }
    } catch (const zmq::error_t& e) {
      return make_error("cannot listen on " + a.str() + ": " + e.what());
    }
    zmq::socket_t* sockets[] = {&vent_, &sink_, &client_};
    std::vector<std::pair<zmq::socket_t*, std::string>> bound;   // this attempt's, for unbind
    auto bind_one = [&](int offset, int port) -> Result<int> {
      zmq::socket_t& s = *sockets[offset];
      std::string ep = !a.local_dir.empty() ? "ipc://" + local_socket(a.local_dir, offset)
                                            : "tcp://" + a.host + ":" + (port ? std::to_string(port) : "*");
      try {
        s.bind(ep);
        std::string got = s.get(zmq::sockopt::last_endpoint);
        bound.emplace_back(&s, got);
        if (!a.local_dir.empty() || port) return port;
        int chosen = 0;
        auto digits = std::string_view(got).substr(got.rfind(':') + 1);
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), chosen);
        if (ec != std::errc() || chosen <= 0) return make_error("bound " + got + ", an endpoint without a port");
        return chosen;
      } catch (const zmq::error_t& e) {
        return make_error(e.what());
      }
    };
    auto unbind = [&] {
      for (auto& [s, ep] : bound) {
        try {
          s->unbind(ep);
        } catch (const zmq::error_t& e) {
          log::debug("unbinding " + ep + ": " + e.what());
        }
      }
      bound.clear();
    };
    auto port = bind_port_block(a.port, bind_one, unbind);
    if (!port.ok()) {
      std::string ports = a.port ? " (ports " + std::to_string(a.port) + ".." + std::to_string(a.port + 2) + ")" : "";
      return make_error("cannot listen on " + a.str() + ports + ": " + port.error().message);
    }
    a.port = port.value();
    return {};
  }

  // The in-process endpoints of the local slots (Address::inproc): only a thread of this
  // process, through ctx_, can connect to them.
  Status bind_inproc(const std::string& name) {
    Address a;
    a.inproc = name;
    try {
      vent_.bind(a.ventilator());
      sink_.bind(a.sink());
    } catch (const zmq::error_t& e) {
      return make_error("cannot bind the local slots' endpoints " + a.ventilator() + ": " + e.what());
    }
    return {};
  }

  zmq::context_t& context() { return ctx_; }
  // The local slots, driven by run() (stepped after each pass of the loop); null: none.
  void set_own_slots(OwnSlots* s) { own_slots_ = s; }

  // `address` is the one bound (with its real port): launched workers are given it.
  // A keyed daemon's second client endpoint: a Unix socket in `dir`, a folder only this user
  // can enter, for this user's own clients. libzmq copies the socket's options into each
  // listener at bind(), so this endpoint of the same ROUTER speaks the NULL mechanism (its ZAP
  // domain admits it) while the TCP one keeps CURVE. Only this user (and root) can reach it, as
  // only they can read the daemon's secret key; local clients skip the encryption of every
  // blob they move.
  Status bind_private_clients(const std::string& dir) {
    try {
      client_.set(zmq::sockopt::curve_server, 0);
      client_.set(zmq::sockopt::zap_domain, proto::kPrivateClientsDomain);
      client_.bind("ipc://" + local_socket(dir, 2));
    } catch (const zmq::error_t& e) {
      return make_error("cannot bind the private client socket in " + dir + ": " + e.what());
    }
    return {};
  }

  void run(const std::atomic<bool>& stop, const std::string& address) {
    int64_t next_hb = clock_.now_ms();
    vent_read_to_ = next_hb;
    PosixProcessControl procs;
    Launcher launcher(clock_, procs, opts_.launch, address);   // stops its workers on return
    IdleWatch idle(clock_, opts_.idle_exit_ms);
    while (!stop.load()) {
      zmq::pollitem_t items[] = {{vent_.handle(), 0, ZMQ_POLLIN, 0},
                                 {sink_.handle(), 0, ZMQ_POLLIN, 0},
                                 {client_.handle(), 0, ZMQ_POLLIN, 0},
                                 {monitor_.handle(), 0, ZMQ_POLLIN, 0},
                                 {client_monitor_.handle(), 0, ZMQ_POLLIN, 0}};
      // The monitors are looked at every kMonitorMs, not on every wake-up: each socket in a
      // poll costs system calls of its own each time, and wake-ups come several per task. A
      // disconnect is seen within kMonitorMs while busy, at the next wake-up (<= 200 ms) idle.
      int64_t wait = std::max<int64_t>(0, std::min<int64_t>(next_hb - clock_.now_ms(), 200));
      for (auto* at : {&probe_at_, &client_probe_at_}) {
        for (int64_t t : *at) wait = std::max<int64_t>(0, std::min<int64_t>(wait, t - clock_.now_ms()));
      }
      if (!running_events_.empty()) {
        wait = std::max<int64_t>(0, std::min<int64_t>(wait, running_events_.front().due_ms - clock_.now_ms()));
      }
      if (!held_events_.empty()) wait = std::max<int64_t>(0, std::min<int64_t>(wait, events_due_ms_ - clock_.now_ms()));
      proto::poll_interruptible(items, 3, std::chrono::milliseconds(wait));
      if (clock_.now_ms() >= monitors_due_) {
        monitors_due_ = clock_.now_ms() + kMonitorMs;
        proto::poll_interruptible(items + 3, 2, std::chrono::milliseconds(0));
      }
      // A disconnect on either ROUTER: probe that side now and shortly after (the ROUTER may
      // not have retired the dead pipe yet). Clients come and go all the time (one per
      // zbuild-cc compile), so their disconnects probe only the builds' clients.
      if (items[3].revents & ZMQ_POLLIN) {
        std::vector<zmq::message_t> ev;
        while (zmq::recv_multipart(monitor_, std::back_inserter(ev), zmq::recv_flags::dontwait)) ev.clear();
        probe_workers();
        for (int64_t d : {10, 50, 150, 400}) probe_at_.push_back(clock_.now_ms() + d);
      }
      if (items[4].revents & ZMQ_POLLIN) read_client_monitor();
      if (!closed_.empty()) {
        if (a_builds_client_may_have_closed(closed_)) {
          probe_clients();
          for (int64_t d : {10, 50, 150, 400}) client_probe_at_.push_back(clock_.now_ms() + d);
        }
        closed_.clear();
        forget_idle_client_connections();
      }
      auto due = [&](std::vector<int64_t>& at) {
        size_t before = at.size();
        int64_t now = clock_.now_ms();
        std::erase_if(at, [&](int64_t t) { return t <= now; });
        return at.size() != before;
      };
      if (due(probe_at_)) probe_workers();
      if (due(client_probe_at_)) probe_clients();
      // Drain in bounded batches so no socket starves the others.
      for (int i = 0; i < 256 && (items[1].revents & ZMQ_POLLIN); ++i) {
        if (!recv_sink()) break;
      }
      int64_t vent_drain_from = clock_.now_ms();
      for (int i = 0; i < 256 && (items[0].revents & ZMQ_POLLIN); ++i) {
        if (!recv_routed(vent_, true)) {
          // Found empty (not a failed receive): everything the workers sent before it is read.
          if (!(vent_.get(zmq::sockopt::events) & ZMQ_POLLIN)) vent_read_to_ = vent_drain_from;
          break;
        }
      }
      for (int i = 0; i < 64 && (items[2].revents & ZMQ_POLLIN); ++i) {
        if (!recv_routed(client_, false)) break;
      }
      int64_t now = clock_.now_ms();
      if (now >= next_hb) {
        next_hb = now + opts_.heartbeat_ms;
        heartbeat();
        check_pulls();
      }
      sched_.dispatch();
      send_running_events();
      if (!held_events_.empty() && clock_.now_ms() >= events_due_ms_) release_events();
      // The local slots take what this pass sent them (tasks, blobs) on this thread: the
      // in-process sockets hold it already, and no thread of theirs is woken for it.
      if (own_slots_) own_slots_->step();
      if (opts_.reload && opts_.reload->exchange(false)) reload_keys();
      launcher.tick(sched_.ready_count(), registry_);
      if ((items[2].revents & ZMQ_POLLIN) || !sched_.builds().empty()) idle.activity();
      if (idle.expired()) {
        log::info("idle for " + std::to_string(opts_.idle_exit_ms / 1000) + " s: exiting");
        break;
      }
    }
    release_events();
  }

  // ---- SchedulerHost ----
  // Every dispatch carries a fresh secret; only a result echoing it, for that attempt, from
  // the worker it was sent to, is accepted (a peer on the sink cannot answer for another).
  bool send_task(const WorkerRec& w, const TaskRec& t) override {
    uint64_t token = random_u64();
    fb::FlatBufferBuilder fbb(1024);
    auto act = proto::build_action(fbb, t.action);
    auto msg = proto::finish(fbb, wire::CreateTaskAssign(fbb, t.gid, t.attempts, act, token));
    if (!send_to(vent_, w.route, msg)) return false;
    dispatches_[t.gid] = Dispatch{token, w.route, t.attempts};
    credit_back_[token] = CreditBack{w.id, w.route, clock_.now_ms()};
    return true;
  }

  // Each result gives its worker back the credit its dispatch took (the worker frees the slot
  // as it sends the result; it sends no Credit message for it): by the dispatch's secret, to the
  // worker id it was sent to, wherever that worker is connected now, whether or not the result
  // is still wanted (a cancelled build, a task already run elsewhere after a reconnect).
  void return_credit(uint64_t token, int64_t run_ms) {
    auto c = credit_back_.find(token);
    if (c == credit_back_.end()) return;
    WorkerRec* w = registry_.find(c->second.route);   // still connected where it was: the usual case
    if (!w || w->id != c->second.worker_id) {          // reconnected under a new route
      w = nullptr;
      for (auto& [route, rec] : registry_.workers()) {
        if (rec.id == c->second.worker_id) w = &rec;
      }
    }
    if (w) w->credit = std::min(w->credit + 1 + short_task_credit(*w, run_ms), w->slots + w->prefetch);
    credit_back_.erase(c);
  }

  // Dispatches whose worker has been gone for kCreditForgetMs: their results will not come.
  void forget_credit_of_gone_workers() {
    int64_t now = clock_.now_ms();
    std::set<std::string> present;
    for (auto& [route, w] : registry_.workers()) present.insert(w.id);
    std::erase_if(credit_back_, [&](const auto& c) {
      return !present.count(c.second.worker_id) && now - c.second.dispatched_ms > kCreditForgetMs;
    });
  }

  // A task's "running" event goes to its client only once it has run kRunningEventDelayMs: a
  // short task's final event comes alone (half the messages for a build of small tasks), a
  // long one shows as running a moment after it started.
  static constexpr int64_t kRunningEventDelayMs = 50;

  void task_event(const Build& b, const TaskRec& t) override {
    if (t.state == TaskState::Running) {
      running_events_.push_back({clock_.now_ms() + kRunningEventDelayMs, t.gid, t.attempts});
      return;
    }
    send_task_event(b, t);
  }

  // The delayed "running" events now due, of tasks still running that attempt.
  void send_running_events() {
    int64_t now = clock_.now_ms();
    while (!running_events_.empty() && running_events_.front().due_ms <= now) {
      PendingRunning p = running_events_.front();
      running_events_.pop_front();
      TaskRec* t = sched_.find_task(p.gid);
      if (!t || t->state != TaskState::Running || t->attempts != p.attempts) continue;
      auto b = sched_.builds().find(t->build_id);
      if (b != sched_.builds().end()) send_task_event(*b->second, *t);
    }
  }

  void send_task_event(const Build& b, const TaskRec& t) {
    wire::TaskState st = wire::TaskState::Queued;
    switch (t.state) {
      case TaskState::Running: st = wire::TaskState::Running; break;
      case TaskState::Done: st = wire::TaskState::Done; break;
      case TaskState::Cached: st = wire::TaskState::Cached; break;
      case TaskState::Failed: st = wire::TaskState::Failed; break;
      case TaskState::Skipped: st = wire::TaskState::Skipped; break;
      default: return;
    }
    fb::FlatBufferBuilder fbb(512);
    const Outcome& o = t.outcome;
    bool final_state = st != wire::TaskState::Running;
    auto out = final_state ? fbb.CreateVector(reinterpret_cast<const uint8_t*>(o.out.data()), o.out.size()) : 0;
    auto err = final_state ? fbb.CreateVector(reinterpret_cast<const uint8_t*>(o.err.data()), o.err.size()) : 0;
    auto outs = final_state ? proto::build_outputs(fbb, o.outputs) : 0;
    std::string worker = o.worker;
    if (st == wire::TaskState::Running) {
      if (auto* w = registry_.find(t.running_on)) worker = w->id;
    }
    std::string message = !o.infra_error.empty() ? o.infra_error : t.message;
    auto msg = proto::finish(
        fbb,
        wire::CreateTaskEvent(fbb, b.id, t.index, st, o.exit_code, out, err, outs, fbb.CreateString(worker),
                              o.duration_ms, t.attempts, fbb.CreateString(message), t.ready_us, t.start_us,
                              t.end_us, o.fetch_ms, o.duration_ms, o.upload_ms, o.slot),
        b.request_id);
    hold_event(b.client_route, std::move(msg));
  }

  // Task events wait up to kEventHoldMs, so that one write makes the results they report
  // durable (the store queues action results: store::ResultWrites::kQueue) and one wake-up of
  // the client takes several. Anything else sent to a client releases them first (the client
  // sees its messages in order); so does a build's end.
  static constexpr int64_t kEventHoldMs = 10;
  static constexpr size_t kEventHoldMax = 256;
  void hold_event(const std::string& route, std::string msg) {
    if (held_events_.empty()) events_due_ms_ = clock_.now_ms() + kEventHoldMs;
    held_events_.push_back({route, std::move(msg)});
    if (held_events_.size() >= kEventHoldMax) release_events();
  }

  void release_events() {
    if (held_events_.empty()) return;
    if (auto st = store_->flush(); !st.ok()) warn_store(st.error().message);
    std::vector<std::pair<std::string, std::string>> out;
    out.swap(held_events_);
    for (auto& [route, msg] : out) send_to(client_, route, msg);
  }

  void build_done(const Build& b) override {
    for (auto& [d, w] : pull_.build_ended(b.id)) {
      blobs_.serve_item(d, w.offset, w.length, 0, [&](const std::string& m) { send_to(vent_, w.route, m); },
                        [&](const std::string& e) { warn_store(e); });
    }
    fb::FlatBufferBuilder fbb(128);
    auto msg = proto::finish(fbb, wire::CreateBuildDone(fbb, b.id, !b.failed), b.request_id);
    send_to(client_, b.client_route, msg);
    log::info("build " + std::to_string(b.id) + " (" + b.name + ") finished: " + std::to_string(b.tasks.size()) +
              " tasks, " + (b.failed ? "FAILED" : "ok"));
  }

  std::optional<Outcome> cache_lookup(const Digest& key, const std::vector<std::string>& outputs) override {
    std::string err;
    auto hit = action_cache_.lookup(key, outputs, &err);
    if (!err.empty()) warn_store(err);
    return hit;
  }

  // Only results that answered the current dispatch and passed validate_outputs() (in
  // on_task_result) reach here.
  void accepted(const TaskRec& t, const Outcome& o) override {
    auto p = action_cache_.record_validated(t.key, o);
    if (!p.ok()) warn_store(p.error().message);
  }

  std::optional<int64_t> duration_lookup(const std::string& key) override {
    auto r = store_->get_meta(key);
    if (!r.ok() || !r.value()) return std::nullopt;
    try {
      return std::stoll(*r.value());
    } catch (...) {
      return std::nullopt;
    }
  }

  void duration_record(const std::string& key, int64_t ms) override {
    auto r = store_->put_meta(key, std::to_string(ms));
    if (!r.ok()) warn_store(r.error().message);
  }

  std::optional<std::string> estimator_lookup(const std::string& key) override {
    auto r = store_->get_meta(key);
    if (!r.ok() || !r.value()) return std::nullopt;
    return *r.value();
  }

  void estimator_record(const std::string& key, const std::string& value) override {
    auto r = store_->put_meta(key, value);
    if (!r.ok()) warn_store(r.error().message);
  }

 private:
  bool send_to(zmq::socket_t& s, const std::string& route, const std::string& payload) {
    return send_status(s, route, payload) == Sent::ok;
  }

  // ROUTER_MANDATORY tells a peer that is gone (EHOSTUNREACH) from one that is only slow (its
  // pipe is full: EAGAIN). Only the first may cost a worker its registration or a build its run.
  enum class Sent { ok, full, gone };
  Sent send_status(zmq::socket_t& s, const std::string& route, const std::string& payload) {
    if (&s == &client_ && !held_events_.empty()) release_events();
    try {
      auto a = s.send(zmq::buffer(route), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      if (!a) return Sent::full;
      auto b = s.send(zmq::buffer(payload), zmq::send_flags::dontwait);
      return b.has_value() ? Sent::ok : Sent::full;
    } catch (const zmq::error_t& e) {
      if (e.num() == EHOSTUNREACH) return Sent::gone;
      log::warn(std::string("send failed: ") + e.what());
      return Sent::full;
    }
  }

  // Dispatch secrets, from the kernel's generator (getrandom(2)) 512 at a time: two system
  // calls per task otherwise. Only this thread uses them.
  uint64_t random_u64() {
    if (random_used_ == random_pool_.size()) {
      size_t got = 0;
      auto* p = reinterpret_cast<char*>(random_pool_.data());
      const size_t want = random_pool_.size() * sizeof(uint64_t);
      while (got < want) {
        ssize_t n = ::getrandom(p + got, want - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {   // cannot happen on Linux >= 3.17 once the pool is seeded; never a weak secret
          log::error(std::string("getrandom: ") + std::strerror(errno));
          std::abort();
        }
        got += static_cast<size_t>(n);
      }
      random_used_ = 0;
    }
    return random_pool_[random_used_++];
  }

  void warn_store(const std::string& m) {
    if (!store_warned_) log::warn("store error (continuing without cache for this lookup): " + m);
    store_warned_ = true;
  }

  static std::string peer_name(const std::string& route) {
    std::string out;
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : route) {
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
    return out;
  }

  bool recv_routed(zmq::socket_t& s, bool is_vent) {
    std::vector<zmq::message_t> parts;
    try {
      auto n = zmq::recv_multipart(s, std::back_inserter(parts), zmq::recv_flags::dontwait);
      if (!n) return false;
    } catch (const zmq::error_t& e) {
      log::warn(std::string("receive failed: ") + e.what());
      return false;
    }
    if (parts.size() != 2) {
      log::warn(std::string(is_vent ? "worker" : "client") + " peer sent " + std::to_string(parts.size()) +
                "-part message; dropped");
      return true;
    }
    std::string route = parts[0].to_string();
    if (!is_vent && !client_conns_.count(route)) {   // a route's connection never changes
      if (client_conns_.size() >= kMaxClientConnections) forget_idle_client_connections();
      // The connection events written before this message (its accept among them) first.
      read_client_monitor();
      int fd = zmq_msg_get(parts[1].handle(), ZMQ_SRCFD);   // -1 when libzmq does not say
      client_conns_[route] = ClientConn{fd, fd >= 0 ? accepted_on_[fd] : 0};
    }
    size_t cap = is_vent ? proto::kMaxWorkerMessage : proto::kMaxClientMessage;
    auto env = proto::decode(parts[1].data(), parts[1].size(), cap);
    if (!env.ok()) {
      log::warn(std::string(is_vent ? "worker" : "client") + " peer " + peer_name(route) + ": " +
                env.error().message + "; dropped");
      return true;
    }
    if (is_vent) on_worker_msg(route, *env.value());
    else on_client_msg(route, *env.value());
    return true;
  }

  bool recv_sink() {
    zmq::message_t m;
    try {
      auto n = sink_.recv(m, zmq::recv_flags::dontwait);
      if (!n) return false;
    } catch (const zmq::error_t& e) {
      return false;
    }
    if (m.more()) {   // a multipart message on the sink is not ours: drain and drop it
      zmq::message_t rest;
      do {
        if (!sink_.recv(rest, zmq::recv_flags::dontwait)) break;
      } while (rest.more());
      log::warn("sink: multipart message dropped");
      return true;
    }
    auto env = proto::decode(m.data(), m.size(), proto::kMaxSinkMessage);
    if (!env.ok()) {
      log::warn("sink: " + env.error().message + "; dropped");
      return true;
    }
    const wire::Envelope* e = env.value().get();
    switch (e->body_type()) {
      case wire::Body::BlobChunk: on_output_chunk(e->body_as_BlobChunk()); break;
      case wire::Body::TaskResult: on_task_result(e->body_as_TaskResult()); break;
      default: log::warn(std::string("sink: unexpected ") + proto::body_name(e->body_type()) + "; dropped");
    }
    return true;
  }

  // ---- worker messages ----
  void on_worker_msg(const std::string& route, const wire::Envelope& e) {
    if (e.body_type() == wire::Body::Hello) {
      auto* h = e.body_as_Hello();
      int slots = std::clamp(h->slots(), 1, 1024);
      auto orphans = registry_.hello(route, str(h->worker_id()), str(h->host()), str(h->platform()), slots);
      if (auto* w = registry_.find(route)) {
        w->sandboxed = h->sandboxed();
        w->any_program = h->any_program();
        w->private_for = str(h->private_for());
        w->prefetch = std::clamp(h->prefetch(), 0, proto::kMaxPrefetch);
        if (auto* ps = h->programs()) {
          for (size_t i = 0; i < ps->size() && i < 256; ++i) w->programs.push_back(str(ps->Get(i)));
        }
      }
      log::info("worker " + printable(str(h->worker_id())) + " joined from " + printable(str(h->host())) +
                " with " + std::to_string(slots) + " slots" + (h->sandboxed() ? "" : ", UNSANDBOXED (--sandbox none)") +
                (str(h->private_for()).empty() ? "" : ", a client's local slot"));
      fb::FlatBufferBuilder fbb(64);
      send_to(vent_, route,
              proto::finish(fbb, wire::CreateWelcome(fbb, static_cast<int>(opts_.heartbeat_ms),
                                                     static_cast<int>(opts_.liveness_ms))));
      if (!orphans.empty()) sched_.requeue_tasks(orphans, "worker " + str(h->worker_id()) + " reconnected");
      return;
    }
    WorkerRec* w = registry_.find(route);
    if (!w) {
      // Not (or no longer) registered, e.g. after a daemon restart: ask it to say hello again.
      fb::FlatBufferBuilder fbb(64);
      send_to(vent_, route, proto::finish(fbb, wire::CreateErrorReply(fbb, fbb.CreateString("unknown worker: send Hello"))));
      return;
    }
    w->last_seen_ms = clock_.now_ms();
    switch (e.body_type()) {
      case wire::Body::Credit:
        w->credit = std::clamp(w->credit + e.body_as_Credit()->slots(), 0, w->slots + w->prefetch);
        break;
      case wire::Body::Heartbeat: break;
      case wire::Body::BlobRequest: serve_worker_blobs(route, e.body_as_BlobRequest()); break;
      case wire::Body::Bye: {
        auto gone = registry_.remove(route);
        if (gone) {
          log::info("worker " + gone->id + " left");
          sched_.on_worker_lost(*gone, "worker " + gone->id + " left");
        }
        break;
      }
      default:
        log::warn("worker " + w->id + ": unexpected " + proto::body_name(e.body_type()) + "; dropped");
    }
  }

  void serve_blobs(zmq::socket_t& s, const std::string& route, const wire::BlobRequest* req, uint64_t request_id) {
    blobs_.serve(req, request_id, [&](const std::string& m) { send_to(s, route, m); },
                 [&](const std::string& e) { warn_store(e); });
  }

  // A worker's fetch: a blob the store lacks that a build's client offers (a toolchain file, a
  // system header) is asked of that client and the request held until it arrives.
  void serve_worker_blobs(const std::string& route, const wire::BlobRequest* req) {
    std::map<std::string, std::pair<uint64_t, std::vector<wire::Digest>>> asks;   // client route -> (rid, digests)
    blobs_.serve(req, 0, [&](const std::string& m) { send_to(vent_, route, m); }, [&](const std::string& e) { warn_store(e); },
                 [&](const Digest& d, uint64_t off, uint32_t len) {
                   std::optional<BlobPull::Provider> ask;
                   if (!pull_.hold(d, BlobPull::Waiter{route, off, len}, &ask, clock_.now_ms())) return false;
                   if (ask) {
                     auto& a = asks[ask->route];
                     a.first = ask->rid;
                     a.second.push_back(proto::to_wire(d));
                     // The first file of a toolchain a worker wants: the rest will follow, so the
                     // client sends all of them now, while this worker fetches the first.
                     if (auto t = tree_of_.find(d); t != tree_of_.end()) {
                       auto miss = store_->missing_blobs(tree_files_[t->second]);
                       for (auto& m : miss.ok() ? miss.value() : std::vector<Digest>{}) {
                         if (m == d) continue;
                         pull_.asked(m);
                         a.second.push_back(proto::to_wire(m));
                       }
                     }
                   }
                   return true;
                 });
    for (auto& [client, a] : asks) {
      fb::FlatBufferBuilder fbb(64 + a.second.size() * 40);
      send_to(client_, client, proto::finish(fbb, wire::CreateBlobWanted(fbb, fbb.CreateVectorOfStructs(a.second)), a.first));
    }
  }

  // Workers held on a blob whose client has sent nothing for kPullStallMs: the client is asked
  // again once (the ask, or the upload, may have been lost), then the workers are answered
  // `missing` (their task fails over as any input that cannot be had), never held for ever.
  static constexpr int64_t kPullStallMs = 60000;
  void check_pulls() {
    auto s = pull_.stalled(clock_.now_ms(), kPullStallMs);
    struct Ask {
      BlobPull::Provider who;
      std::vector<wire::Digest> digests;
    };
    std::map<std::string, Ask> asks;   // by client route
    for (auto& [d, p] : s.again) {
      auto& a = asks.emplace(p.route, Ask{p, {}}).first->second;
      a.digests.push_back(proto::to_wire(d));
    }
    for (auto& [client, a] : asks) {
      log::warn("build " + std::to_string(a.who.build) + ": its client sent nothing of " + std::to_string(a.digests.size()) +
                " blob(s) workers wait for in " + std::to_string(kPullStallMs / 1000) + " s: asking again");
      fb::FlatBufferBuilder fbb(64 + a.digests.size() * 40);
      send_to(client_, client, proto::finish(fbb, wire::CreateBlobWanted(fbb, fbb.CreateVectorOfStructs(a.digests)), a.who.rid));
    }
    for (auto& d : s.give_up) {
      log::error("blob " + d.str() + " did not come from its client, asked twice: answering its workers `missing`");
      release_pulled(d);
    }
  }

  // Answers the workers held on `d` (from the store: the blob, or `missing`).
  void release_pulled(const Digest& d) {
    for (auto& w : pull_.release(d)) {
      blobs_.serve_item(d, w.offset, w.length, 0, [&](const std::string& m) { send_to(vent_, w.route, m); },
                        [&](const std::string& e) { warn_store(e); });
    }
  }

  // What build `id`'s client can send when asked: the files of its tasks' toolchain trees and
  // their host files.
  void offer_shipped(uint64_t id, const std::string& route, uint64_t rid) {
    auto bi = sched_.builds().find(id);
    if (bi == sched_.builds().end()) return;
    const Build* b = bi->second.get();
    std::set<Digest> ds;
    for (auto& t : b->tasks) {
      if (t.action.toolchain.empty()) continue;
      for (auto& h : t.action.host_files) ds.insert(h.digest);
      auto files = tree_files_.find(t.action.toolchain);
      if (files == tree_files_.end()) {
        std::vector<Digest> fs;
        auto blob = store_->get_blob(t.action.toolchain);
        if (blob.ok() && blob.value()) {
          auto tree = toolchain::Tree::decode(*blob.value());
          if (tree.ok()) {
            for (auto& e : tree.value().entries) {
              if (e.kind == 'f' || e.kind == 'x') fs.push_back(e.digest);
            }
          } else {
            log::warn("build " + std::to_string(id) + ": " + tree.error().message);
          }
        }
        if (tree_files_.size() > 256) {
          tree_files_.clear();
          tree_of_.clear();
        }
        for (auto& f : fs) tree_of_[f] = t.action.toolchain;
        files = tree_files_.emplace(t.action.toolchain, std::move(fs)).first;
      }
      ds.insert(files->second.begin(), files->second.end());
    }
    pull_.offer(id, route, rid, std::vector<Digest>(ds.begin(), ds.end()));
  }

  void on_output_chunk(const wire::BlobChunk* c) {
    auto err = blobs_.receive("w:" + str(c->sender()), c);
    if (!err.empty()) log::warn("output upload from worker " + printable(str(c->sender())) + ": " + err);
  }

  void on_task_result(const wire::TaskResult* r) {
    return_credit(r->token(), r->run_ms());
    // Bound to the dispatch: the token proves the sender received this very TaskAssign.
    auto d = dispatches_.find(r->task_id());
    TaskRec* t = sched_.find_task(r->task_id());
    if (d == dispatches_.end() || !t || d->second.token != r->token() || d->second.attempt != r->attempt()) {
      forged_results_++;
      log::warn("sink: result for task " + std::to_string(r->task_id()) + " attempt " + std::to_string(r->attempt()) +
                " does not answer a dispatch of this daemon (wrong token, attempt or task); dropped");
      return;
    }
    std::string route = d->second.route;
    dispatches_.erase(d);
    const WorkerRec* w = registry_.find(route);
    if (!w) {
      sched_.on_result(route, r->task_id(), r->attempt(), Outcome{});   // counted as late
      return;
    }
    Outcome o;
    o.exit_code = r->exit_code();
    o.out = std::string(bytes(r->stdout_data()));
    o.err = std::string(bytes(r->stderr_data()));
    o.worker = w->id;   // who we sent it to, not what the message says
    o.duration_ms = r->run_ms();
    o.fetch_ms = r->fetch_ms();
    o.upload_ms = r->upload_ms();
    o.slot = r->slot();
    o.infra_error = str(r->infra_error());
    auto outs = proto::parse_outputs(r->outputs());
    if (!outs.ok()) {
      o.infra_error = "worker " + w->id + " reported a bad output: " + outs.error().message;
    } else {
      o.outputs = std::move(outs.value());
    }
    if (o.infra_error.empty() && o.exit_code == 0) {
      auto v = validate_outputs(*store_, t->action.outputs, o);
      if (!v.ok()) {
        o.infra_error = "worker " + w->id + ": " + v.error().message;
        log::warn("task " + printable(t->id) + ": result refused, " + printable(o.infra_error));
        o.outputs.clear();
      }
    } else {
      o.outputs.clear();   // a failed task has no outputs to hand out
    }
    // A success the scheduler accepts is written to the action cache by accepted(), before
    // the client hears of it.
    sched_.on_result(route, r->task_id(), r->attempt(), std::move(o));
  }

  // ---- client messages ----
  void reply_error(const std::string& route, uint64_t rid, const std::string& msg) {
    fb::FlatBufferBuilder fbb(256);
    send_to(client_, route, proto::finish(fbb, wire::CreateErrorReply(fbb, fbb.CreateString(msg)), rid));
  }

  void on_client_msg(const std::string& route, const wire::Envelope& e) {
    uint64_t rid = e.request_id();
    switch (e.body_type()) {
      case wire::Body::FindMissing: {
        std::vector<Digest> ds;
        if (auto* v = e.body_as_FindMissing()->digests()) {
          for (auto* d : *v) ds.push_back(proto::from_wire(d));
        }
        auto miss = store_->missing_blobs(ds);
        if (!miss.ok()) {
          reply_error(route, rid, "store error: " + miss.error().message);
          return;
        }
        std::vector<wire::Digest> wd;
        for (auto& d : miss.value()) wd.push_back(proto::to_wire(d));
        fb::FlatBufferBuilder fbb(64 + wd.size() * 24);
        send_to(client_, route, proto::finish(fbb, wire::CreateMissingBlobs(fbb, fbb.CreateVectorOfStructs(wd)), rid));
        return;
      }
      case wire::Body::BlobChunk: {
        auto* c = e.body_as_BlobChunk();
        pull_.heard_from(route, clock_.now_ms());
        if (c->missing()) {   // a client cannot send a blob it was asked for (only its own say counts)
          Digest d = proto::from_wire(c->digest());
          if (pull_.offered_by(d, route)) release_pulled(d);
          return;
        }
        bool stored = false;
        std::string err = blobs_.receive("c:" + route, c, &stored);
        if (stored) release_pulled(proto::from_wire(c->digest()));
        fb::FlatBufferBuilder fbb(128);
        auto wd = proto::to_wire(proto::from_wire(c->digest()));
        send_to(client_, route, proto::finish(fbb, wire::CreateUploadAck(fbb, &wd, c->offset(), fbb.CreateString(err)), rid));
        return;
      }
      case wire::Body::BlobRequest: serve_blobs(client_, route, e.body_as_BlobRequest(), rid); return;
      case wire::Body::GetManifests: {
        fb::FlatBufferBuilder fbb(1024);
        std::vector<fb::Offset<wire::ManifestEntry>> entries;
        if (auto* keys = e.body_as_GetManifests()->keys()) {
          for (auto* k : *keys) {
            auto v = store_->get_meta("man:" + str(k));
            if (v.ok() && v.value()) {
              entries.push_back(wire::CreateManifestEntry(
                  fbb, fbb.CreateString(str(k)),
                  fbb.CreateVector(reinterpret_cast<const uint8_t*>(v.value()->data()), v.value()->size())));
            }
          }
        }
        send_to(client_, route, proto::finish(fbb, wire::CreateManifests(fbb, fbb.CreateVector(entries)), rid));
        return;
      }
      case wire::Body::PutManifests: {
        if (auto* es = e.body_as_PutManifests()->entries()) {
          for (auto* m : *es) {
            if (!m) continue;
            auto p = store_->put_meta("man:" + str(m->key()), bytes(m->value()));
            if (!p.ok()) warn_store(p.error().message);
          }
        }
        fb::FlatBufferBuilder fbb(64);
        send_to(client_, route, proto::finish(fbb, wire::CreateManifests(fbb), rid));
        return;
      }
      case wire::Body::SubmitBuild: on_submit(route, rid, e.body_as_SubmitBuild()); return;
      case wire::Body::StatusRequest: {
        StatusInputs in{registry_, sched_, store_->stats(), clock_.now_ms(), blobs_.bytes_received()};
        in.forged_results = forged_results_;
        in.client_probes = client_probes_;
        in.refused_uploads = blobs_.refused();
        in.unfinished_upload_bytes = blobs_.bytes_in_progress();
        fb::FlatBufferBuilder fbb(4096);
        send_to(client_, route, proto::finish(fbb, wire::CreateStatusReply(fbb, fbb.CreateString(status_json(in))), rid));
        return;
      }
      default:
        log::warn("client " + peer_name(route) + ": unexpected " + proto::body_name(e.body_type()) + "; dropped");
        reply_error(route, rid, std::string("unexpected message ") + proto::body_name(e.body_type()));
    }
  }

  void on_submit(const std::string& route, uint64_t rid, const wire::SubmitBuild* s) {
    std::vector<NewTask> tasks;
    std::vector<Digest> sources;
    std::vector<std::pair<size_t, size_t>> source_at;   // (task, input)
    std::map<Digest, std::string> shipped;              // toolchain trees -> whose
    if (s->tasks()) {
      tasks.reserve(s->tasks()->size());
      for (auto* st : *s->tasks()) {
        if (!st) {
          reply_error(route, rid, "submit: task entry missing");
          return;
        }
        NewTask nt;
        nt.id = str(st->id());
        auto a = proto::parse_action(st->action());
        if (!a.ok()) {
          reply_error(route, rid, "task '" + nt.id + "': " + a.error().message);
          return;
        }
        nt.action = std::move(a.value());
        if (auto ev = cmd::check_env(nt.action.env); !ev.ok()) {
          reply_error(route, rid, "task '" + printable(nt.id) + "': " + ev.error().message);
          return;
        }
        if (st->deps()) nt.deps.assign(st->deps()->begin(), st->deps()->end());
        // A task with a toolchain may run on a worker that fetches it: its tree must be in
        // the store (its files and the host files are pulled from the client when wanted).
        if (!nt.action.toolchain.empty()) {
          shipped.emplace(nt.action.toolchain, "task '" + printable(nt.id) + "': its toolchain tree");
        }
        for (size_t i = 0; i < nt.action.inputs.size(); ++i) {
          if (!nt.action.inputs[i].producer) {
            sources.push_back(nt.action.inputs[i].digest);
            source_at.push_back({tasks.size(), i});
          }
        }
        tasks.push_back(std::move(nt));
      }
    }
    // Every source input must already be in the CAS (the client uploads what is missing).
    auto missing = store_->missing_blobs(sources);
    if (missing.ok() && !missing.value().empty()) {
      Digest m = missing.value()[0];
      for (auto& [ti, ii] : source_at) {
        if (tasks[ti].action.inputs[ii].digest == m) {
          reply_error(route, rid, "task '" + tasks[ti].id + "': input '" + tasks[ti].action.inputs[ii].path +
                                      "' (" + m.str() + ") was not uploaded");
          return;
        }
      }
    }
    if (!shipped.empty()) {
      std::vector<Digest> ds;
      for (auto& [d, _] : shipped) ds.push_back(d);
      auto miss = store_->missing_blobs(ds);
      if (miss.ok() && !miss.value().empty()) {
        auto& [d, what] = *shipped.find(miss.value()[0]);
        reply_error(route, rid, what + " (" + d.str() + ") was not uploaded");
        return;
      }
    }
    std::string name = str(s->name());
    size_t n = tasks.size();
    auto id = sched_.add_build(route, rid, name, std::move(tasks), s->keep_going(), s->require_sandbox(),
                               str(s->private_worker()));
    if (!id.ok()) {
      reply_error(route, rid, id.error().message);
      return;
    }
    log::info("build " + std::to_string(id.value()) + " (" + name + ") accepted: " + std::to_string(n) + " tasks");
    offer_shipped(id.value(), route, rid);
    fb::FlatBufferBuilder fbb(64);
    send_to(client_, route, proto::finish(fbb, wire::CreateBuildAccepted(fbb, id.value(), static_cast<uint32_t>(n)), rid));
    sched_.start_build(id.value());
    sched_.dispatch();
  }

  // Sends a heartbeat to every worker; ROUTER_MANDATORY makes a send to a peer whose
  // connection is gone fail, and that worker is dropped (its tasks are retried elsewhere).
  void probe_workers() {
    fb::FlatBufferBuilder fbb(32);
    auto hb = proto::finish(fbb, wire::CreateHeartbeat(fbb));
    std::vector<std::string> unreachable;
    for (auto& [route, w] : registry_.workers()) {
      if (send_status(vent_, route, hb) == Sent::gone) unreachable.push_back(route);
    }
    for (auto& r : unreachable) {
      if (auto gone = registry_.remove(r)) {
        log::warn("worker " + gone->id + " (" + gone->host + ") disconnected; " + std::to_string(gone->running.size()) +
                  " task(s) go back to the queue");
        blobs_.drop_sender("w:" + gone->id);
        sched_.on_worker_lost(*gone, "worker " + gone->id + " disconnected");
      }
    }
  }

  // A client connection: its descriptor and how many connections had had it by then.
  struct ClientConn {
    int fd = -1;
    uint64_t accepted = 0;
  };

  // A monitor event: its number and value (for a connection's events, its descriptor); -1, -1
  // when it cannot be read as one.
  static std::pair<int, int> monitor_event(const std::vector<zmq::message_t>& ev) {
    if (ev.empty() || ev[0].size() < 6) return {-1, -1};
    uint16_t event = 0;
    uint32_t value = 0;
    std::memcpy(&event, ev[0].data(), sizeof event);
    std::memcpy(&value, static_cast<const char*>(ev[0].data()) + 2, sizeof value);
    return {event, static_cast<int>(value)};
  }

  // Reads the client monitor's events: accepts counted per descriptor, disconnects kept in
  // closed_ for the loop's probe decision.
  void read_client_monitor() {
    std::vector<zmq::message_t> ev;
    while (zmq::recv_multipart(client_monitor_, std::back_inserter(ev), zmq::recv_flags::dontwait)) {
      auto [event, fd] = monitor_event(ev);
      if (event == ZMQ_EVENT_ACCEPTED && fd >= 0) ++accepted_on_[fd];
      else if (event == ZMQ_EVENT_DISCONNECTED) closed_.push_back({fd, fd >= 0 ? accepted_on_[fd] : 0});
      ev.clear();
    }
  }

  // A build's client may be among the connections that closed. The kernel gives a new connection
  // the descriptor the last one freed, so a descriptor is told apart by how many connections had
  // it (ZMQ_EVENT_ACCEPTED, read in order with the disconnects, and before a route's first
  // message is noted): a build whose client's messages came on a later connection with that
  // descriptor is not the one that closed. When its connection is not known (libzmq did not
  // say, an event could not be read) or not surely later, its client is probed.
  bool a_builds_client_may_have_closed(const std::vector<ClientConn>& closed) const {
    if (sched_.builds().empty()) return false;
    for (auto& c : closed) {
      if (c.fd < 0) return true;
    }
    for (auto& [id, b] : sched_.builds()) {
      auto it = client_conns_.find(b->client_route);
      if (it == client_conns_.end() || it->second.fd < 0) return true;
      for (auto& c : closed) {
        if (c.fd == it->second.fd && it->second.accepted <= c.accepted) return true;
      }
    }
    return false;
  }

  // Connections of routes with no build in progress are not needed for that.
  void forget_idle_client_connections() {
    std::unordered_set<std::string> live;
    for (auto& [id, b] : sched_.builds()) live.insert(b->client_route);
    std::erase_if(client_conns_, [&](const auto& e) { return !live.count(e.first); });
  }

  // Builds whose client cannot be reached any more are cancelled (ROUTER_MANDATORY makes the
  // send fail once the client's connection is gone); the client ignores these heartbeats.
  void probe_clients() {
    ++client_probes_;
    fb::FlatBufferBuilder fbb(32);
    auto hb = proto::finish(fbb, wire::CreateHeartbeat(fbb));
    std::vector<uint64_t> gone;
    for (auto& [id, b] : sched_.builds()) {
      if (send_status(client_, b->client_route, hb) == Sent::gone) gone.push_back(id);
    }
    for (uint64_t id : gone) {
      log::warn("build " + std::to_string(id) + ": its client disconnected; cancelling it");
      sched_.cancel_build(id, "cancelled: the client disconnected");
    }
  }

  void heartbeat() {
    blobs_.expire();
    if (++heartbeats_ % 60 == 0) forget_credit_of_gone_workers();
    std::erase_if(dispatches_, [&](const auto& d) {
      const TaskRec* t = sched_.find_task(d.first);
      return !t || t->state != TaskState::Running;
    });
    for (auto& w : registry_.expire(worker_messages_read_to())) {
      log::warn("worker " + w.id + " (" + w.host + ") lost: no heartbeat for " + std::to_string(opts_.liveness_ms) +
                " ms; " + std::to_string(w.running.size()) + " task(s) go back to the queue");
      blobs_.drop_sender("w:" + w.id);
      sched_.on_worker_lost(w, "worker " + w.id + " lost (no heartbeat)");
    }
    probe_workers();
  }

  DaemonOptions opts_;
  SteadyClock clock_;
  std::unique_ptr<store::Store> store_;
  Registry registry_;
  Scheduler sched_;
  zmq::context_t ctx_;
  OwnSlots* own_slots_ = nullptr;
  std::array<uint64_t, 512> random_pool_{};
  size_t random_used_ = random_pool_.size();
  static constexpr int64_t kMonitorMs = 20;
  // The last moment every message on the worker socket had been read (a drain that found it
  // empty). A worker is lost only when silent for the liveness window before that moment: a
  // pass of the loop longer than the window (a huge submission, a slow disk) leaves heartbeats
  // waiting unread, and must not expire the workers that sent them.
  int64_t vent_read_to_ = 0;
  static constexpr int64_t kMaxUnreadMs = 60'000;

  int64_t worker_messages_read_to() {
    int64_t now = clock_.now_ms();
    if (!(vent_.get(zmq::sockopt::events) & ZMQ_POLLIN)) return vent_read_to_ = now;
    // Never found empty for a minute (a flood): expiry goes on, a minute behind.
    return std::max(vent_read_to_, now - kMaxUnreadMs);
  }
  int64_t monitors_due_ = 0;
  std::unique_ptr<proto::CurveServer> curve_;
  zmq::socket_t vent_;
  zmq::socket_t sink_;
  zmq::socket_t client_;
  zmq::socket_t monitor_;
  zmq::socket_t client_monitor_;
  struct PendingRunning {
    int64_t due_ms;
    uint64_t gid;
    int attempts;
  };
  std::deque<PendingRunning> running_events_;   // in due order
  std::vector<std::pair<std::string, std::string>> held_events_;   // (client route, TaskEvent), hold_event()
  int64_t events_due_ms_ = 0;
  std::vector<int64_t> probe_at_;          // follow-up probes of workers after a disconnect
  std::vector<int64_t> client_probe_at_;   // and of builds' clients
  BlobService blobs_{*store_, clock_};
  BlobPull pull_;
  std::map<Digest, std::vector<Digest>> tree_files_;   // toolchain tree -> the digests of its files
  std::map<Digest, Digest> tree_of_;                   // a toolchain file -> a tree holding it
  ActionCache action_cache_{*store_};
  struct Dispatch {
    uint64_t token = 0;
    std::string route;
    int attempt = 0;
  };
  std::unordered_map<uint64_t, Dispatch> dispatches_;   // task gid -> its current dispatch
  uint64_t heartbeats_ = 0;
  struct CreditBack {
    std::string worker_id;
    std::string route;   // where it was connected at dispatch
    int64_t dispatched_ms = 0;
  };
  static constexpr int64_t kCreditForgetMs = 10 * 60 * 1000;
  // The connection each client route's messages came in on: its descriptor (ZMQ_SRCFD; -1 when
  // libzmq does not say) and how many connections had had that descriptor then. A client's
  // disconnect names its descriptor: the builds' clients are probed only when one of them may
  // have used that connection. Every zbuild-cc compile is a client that disconnects once its
  // build is over; probing every build's client then woke every other compile's zbuild-cc five
  // times per compile.
  static constexpr size_t kMaxClientConnections = 4096;
  std::unordered_map<std::string, ClientConn> client_conns_;
  std::unordered_map<int, uint64_t> accepted_on_;   // descriptor -> connections accepted on it
  std::vector<ClientConn> closed_;                   // disconnects read, not yet looked at
  uint64_t client_probes_ = 0;   // rounds of probes sent to the builds' clients
  std::unordered_map<uint64_t, CreditBack> credit_back_;   // dispatch secret -> whose credit its result returns
  uint64_t forged_results_ = 0;
  bool store_warned_ = false;
};

}  // namespace

Status run_daemon(const DaemonOptions& opts, const std::atomic<bool>& stop) {
  auto addr = parse_listen_address(opts.listen);
  if (!addr.ok()) return addr.error();
  bool curve = !opts.curve_secret.empty();
  if (!curve && (!opts.allow_workers.empty() || !opts.allow_clients.empty())) {
    return make_error("--allow-workers/--allow-clients need the daemon's key (--curve-key)");
  }
  if (!addr.value().is_loopback() && !opts.insecure && !curve) {
    return make_error("refusing to listen on " + opts.listen +
                      ": a non-loopback address needs CurveZMQ keys (zbuild keygen; --curve-key, --allow-workers, "
                      "--allow-clients) or --insecure");
  }
  // Private by default: a loopback daemon without keys binds no TCP port; its sockets live in a
  // folder only this user can enter, and a lock there keeps a second daemon off the address.
  // Port 0 claims a number no daemon of the user holds, by taking its lock.
  std::optional<FileLock> local_lock;
  if (addr.value().is_loopback() && !curve && !opts.insecure) {
    if (addr.value().port == 0) {
      auto claim = claim_free_local_port();
      if (!claim.ok()) return make_error("cannot listen on " + opts.listen + ": " + claim.error().message);
      addr.value().port = claim.value().port;
      addr.value().local_dir = claim.value().dir;
      local_lock.emplace(std::move(claim.value().lock));
    } else {
      auto dir = private_socket_dir(addr.value().port, true);
      if (!dir.ok()) return make_error("refusing to start: " + dir.error().message);
      auto lock = FileLock::acquire(dir.value() + "/lock");
      if (!lock.ok()) {
        return make_error("a zbuild daemon already serves " + addr.value().str() + " for this user (its sockets are in " +
                          dir.value() + ")");
      }
      local_lock.emplace(std::move(lock.value()));
      addr.value().local_dir = dir.value();
    }
  }
  // One daemon per user and workspace: a second one is refused, naming the first's address.
  std::optional<FileLock> workspace_lock;
  if (!opts.workspace.empty()) {
    auto base = private_runtime_dir(true);
    if (!base.ok()) return make_error("refusing to start: " + base.error().message);
    auto lock = FileLock::acquire(base.value() + "/workspace-" + digest_bytes(opts.workspace).hex() + ".lock");
    if (!lock.ok()) {
      auto running = read_file(opts.workspace + "/.zbuild-daemon");
      std::string at = running.ok() ? running.value().substr(0, running.value().find('\n')) : "an address being written";
      return make_error("a zbuild daemon already serves workspace " + opts.workspace + " at " + at);
    }
    workspace_lock.emplace(std::move(lock.value()));
  }
  std::string spec = opts.store.empty() ? default_store_dir() : opts.store;
  if (opts.store.empty() && !opts.workspace.empty()) {
    // Each workspace daemon gets its own store by default (RocksDB admits one process); a
    // store shared by several daemons is Redis (--store redis://...).
    std::filesystem::path ws(opts.workspace);
    spec = (std::filesystem::path(default_store_dir()).parent_path() / "workspaces" /
            (ws.filename().string() + "-" + digest_bytes(opts.workspace).hex().substr(0, 12)))
               .string();
  }
  // The store answers for what every task produced: a folder another user could write, or swap
  // by renaming one above it (/tmp/zbuild-UID made first by someone else), is refused.
  std::error_code abs_ec;
  if (!store::is_redis_spec(spec) &&
      !private_dir(std::filesystem::absolute(spec, abs_ec).lexically_normal().string())) {
    return make_error("store " + spec + ": refusing to use it: the folder, or one above it, is not this user's alone "
                      "(another user could change or swap the cache, and so the results it answers with); give a "
                      "folder only this user can write with --store DIR");
  }
  store::StoreOptions store_opts;
  store_opts.max_bytes = opts.store_max_bytes;
  auto store = store::open_store(spec, store_opts);
  if (store::is_redis_spec(spec)) {
    // A shared cache that is down must not stop builds: degrade to a local cache instead.
    std::unique_ptr<store::Store> primary;
    if (store.ok()) primary = std::move(store.value());
    else log::warn("store " + spec + ": " + store.error().message);
    store = store::make_resilient_store(spec, std::move(primary), 512ull << 20,
                                        [](const std::string& m) { log::warn(m); });
  } else if (store.ok()) {
    // Nor a local one that cannot write (full disk): caching stops, builds go on.
    store = store::make_write_tolerant_store(spec, std::move(store.value()), 512ull << 20,
                                             [](const std::string& m) { log::warn(m); });
  }
  if (!store.ok()) return make_error("store " + spec + ": " + store.error().message);
  // Store writes leave the event loop: one writer thread, reads see what is queued; action
  // results are written (in one batch) before the task events that report them (hold_event).
  auto behind = store::make_write_behind_store(std::move(store.value()), 256ull << 20,
                                               [](const std::string& m) { log::warn(m); }, store::ResultWrites::kQueue);
  Daemon d(opts, std::move(behind));
  if (curve) ZB_TRY(d.enable_curve(opts));
  ZB_TRY(d.bind(addr.value()));
  if (!curve && opts.insecure) {   // after the bind: with port 0 it names the port chosen
    log::warn("listening on " + addr.value().str() + " WITHOUT authentication (--insecure): anyone who can reach it" +
              (addr.value().is_loopback() ? std::string(" (every local user)") : std::string()) +
              " can run commands on the workers");
  }
  // A keyed daemon also gives this user's own clients on its host its private Unix socket (the
  // same guarantee as local mode: the folder is the user's alone), whichever address it binds.
  // Skipped, not refused, when a local-mode daemon of the user already holds that folder: the
  // TCP endpoint with CURVE serves.
  std::string private_clients;
  if (curve) {
    auto dir = private_socket_dir(addr.value().port, true);
    auto lock = dir.ok() ? FileLock::acquire(dir.value() + "/lock") : Result<FileLock>(dir.error());
    if (lock.ok()) {
      local_lock.emplace(std::move(lock.value()));
      private_clients = dir.value();
      ZB_TRY(d.bind_private_clients(private_clients));
    } else {
      log::info("no private client socket: " + lock.error().message);
    }
  }
  if (addr.value().local_dir.empty()) {
    log::info("daemon listening on " + addr.value().str() + " (workers " + std::to_string(addr.value().port) +
              ", sink " + std::to_string(addr.value().port + 1) + ", clients " + std::to_string(addr.value().port + 2) +
              (curve ? ", CURVE" : ", NO AUTHENTICATION") +
              (private_clients.empty() ? std::string() : "; this user's clients also at " + private_clients) +
              "), store " + spec);
  } else {
    log::info("daemon listening on " + addr.value().str() + " (local: Unix sockets in " + addr.value().local_dir +
              ", private to this user; no TCP port), store " + spec);
  }
  if (!opts.ready_file.empty()) {
    auto w = write_file_atomic(opts.ready_file, addr.value().str() + "\n");
    if (!w.ok()) log::warn(w.error().message);
  }
  WorkspaceFile ws(opts.workspace, addr.value().str());   // removed however run() ends
  ZB_TRY(ws.write());
  // Local slots: a worker in this process, stopped before the daemon's sockets close.
  std::unique_ptr<OwnSlots> slots;
  if (opts.local_slots) {
    const std::string name = "zbuild-local-slots";
    ZB_TRY(d.bind_inproc(name));
    auto s = opts.local_slots(d.context(), name);
    if (!s.ok()) return make_error("local slots: " + s.error().message);
    slots = std::move(s.value());
    d.set_own_slots(slots.get());
  }
  d.run(stop, addr.value().str());
  log::info("daemon stopping");
  d.set_own_slots(nullptr);
  slots.reset();
  return {};
}

}  // namespace zbuild::daemon
