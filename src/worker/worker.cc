#include "worker/worker.h"

#include <pthread.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/address.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "proto/security.h"
#include "proto/poll.h"
#include "proto/wire.h"
#include "worker/blob_cache.h"
#include "worker/executor.h"
#include "worker/task_root.h"
#include "worker/host_check.h"
#include "worker/outbox.h"
#include "worker/toolchains.h"

namespace zbuild::worker {

static_assert(kMaxPrefetch == proto::kMaxPrefetch, "the worker's --prefetch limit is the protocol's");

namespace fb = flatbuffers;
using proto::str;

namespace {

struct Job {
  uint64_t task_id = 0;
  int attempt = 0;
  uint64_t token = 0;              // echoed in the result: binds it to this dispatch
  ActionSpec action;
  std::set<std::string> waiting;   // digests not yet in the blob cache
  std::string infra_error;         // set when fetching failed
  int64_t received_ms = 0;
  int64_t fetch_ms = 0;
  bool placed = false;             // toolchain decided: this host's files, or shipped
  bool shipped = false;            // runs with the shipped toolchain's root
  uint64_t shipped_bytes = 0;      // toolchain bytes this task made the worker fetch
};

std::string hostname() {
  char buf[256] = {0};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string platform() {
  struct utsname u {};
  ::uname(&u);
  return std::string(u.sysname) + "-" + u.machine;
}

class Worker {
 public:
  Worker(const WorkerOptions& o, Address addr, std::optional<proto::CurveClient> curve)
      : opts_(o),
        addr_(std::move(addr)),
        curve_(std::move(curve)),
        own_ctx_(o.context ? nullptr : std::make_unique<zmq::context_t>()),
        ctx_(o.context ? *o.context : *own_ctx_),
        cache_(fs_root() / "blobs"),
        hosts_(toolchain_dirs(o)),
        toolchains_(fs_root() / "toolchains", cache_, hosts_) {}

  std::filesystem::path fs_root() const { return opts_.work_dir; }
  const TaskRoot& task_root() const { return task_root_; }

  static std::vector<std::string> toolchain_dirs(const WorkerOptions& o) {
    auto d = HostFileChecker::default_dirs();
    d.insert(d.end(), o.toolchain_dirs.begin(), o.toolchain_dirs.end());
    return d;
  }

  Status start() {
    ZB_TRY(cache_.init());
    hosts_.remember_in(default_stat_cache_path());   // the toolchain is not hashed again per run
    std::error_code ec;
    std::filesystem::remove_all(fs_root() / "toolchains", ec);
    auto tr = choose_task_root(opts_.task_dir, fs_root());
    if (!tr.ok()) return tr.error();
    task_root_ = tr.value();
    log::info("task folders in " + task_root_.dir.string() + " (" + task_root_.why + ")");
    SandboxPolicy policy;
    policy.allowed = opts_.allow_programs;
    policy.allow_any = opts_.allow_any_program;
    policy.allowed_options.insert(opts_.allow_options.begin(), opts_.allow_options.end());
    policy.memory_limit_mb = opts_.memory_limit_mb;
    if (opts_.sandbox != "none") {
      // Fails closed: no sandbox, no tasks — unless the operator says --sandbox none.
      policy.bwrap = probe_bwrap();
      policy.use_bwrap = !policy.bwrap.empty();
      if (!policy.use_bwrap) {
        return make_error("refusing to start: bubblewrap is not installed or cannot create a sandbox on this host "
                          "(user namespaces blocked?); install bubblewrap, or run tasks unsandboxed with "
                          "--sandbox none on a host you trust");
      }
      // One resident sandbox helper per slot (worker/slot_sandbox.h), each with its own area.
      std::string helper = find_sandbox_helper();
      for (int i = 0; i < opts_.slots; ++i) {
        std::error_code aec;
        auto area = std::filesystem::weakly_canonical(task_root_.dir, aec) / std::to_string(i);
        auto s = SlotSandbox::start({policy.bwrap, helper, area});
        if (!s.ok()) {
          return make_error("refusing to start: slot " + std::to_string(i) + ": " + s.error().message +
                            "; or run tasks unsandboxed with --sandbox none on a host you trust");
        }
        slot_sandboxes_.push_back(std::move(s.value()));
      }
      log::info("sandbox: bubblewrap (only the task's directory writable, /usr read-only, no network), "
                "one resident helper per slot");
    } else {
      log::warn("sandbox: none (--sandbox none): tasks can see this host's files and network; the daemon shows this "
                "worker as unsandboxed");
    }
    sandboxed_ = policy.use_bwrap;
    executor_ = std::make_unique<Executor>(task_root_.dir, cache_, hosts_, policy);
    for (int i = 0; i < opts_.slots; ++i) threads_.emplace_back([this, i] { slot_main(i); });
    return {};
  }

  void run(const std::atomic<bool>& stop) {
    connect();
    // A slot that finishes wakes no one here: its result gives the daemon the credit back.
    while (!stop.load()) turn(std::min<int64_t>(opts_.heartbeat_ms, 200));
    finish();
  }

  // The daemon's own slots (start_local_worker): connected now, then driven by the daemon's
  // event loop, which calls step() after it has sent them something, and at least every
  // 200 ms; no thread of their own wakes per task.
  void begin() { connect(); }
  void step() { turn(0); }

  // Stops the slots: running tasks are killed, not waited for (a compile may take minutes): the
  // daemon gives them to another worker when it reads the Bye. Their results are not sent.
  void finish() {
    {
      fb::FlatBufferBuilder fbb(32);
      send(proto::finish(fbb, wire::CreateBye(fbb)));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      quitting_ = true;
    }
    cv_.notify_all();
    aborting_ = true;
    if (executor_) executor_->cancel_all();
    for (auto& sb : slot_sandboxes_) sb->abort();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  // Takes what the daemon sent (waiting up to `wait_ms` for it), heartbeats when due, and
  // reconnects when the daemon has gone quiet (never in the daemon's own process: the daemon
  // is what calls this, so it cannot be silent, and a reconnect would sleep on its loop).
  void turn(int64_t wait_ms) {
    if (wait_ms > 0) {
      zmq::pollitem_t items[] = {{dealer_->handle(), 0, ZMQ_POLLIN, 0}};
      proto::poll_interruptible(items, 1, std::chrono::milliseconds(wait_ms));
    }
    // A step drains what the daemon's loop sent (a finite amount: the loop is not running);
    // a worker process reads in bounded batches and polls again.
    for (int i = 0; i < 512 || wait_ms == 0; ++i) {
      zmq::message_t m;
      auto n = dealer_->recv(m, zmq::recv_flags::dontwait);
      if (!n) break;
      last_heard_ = clock_.now_ms();
      backoff_.reset();
      handle(m);
    }
    int64_t now = clock_.now_ms();
    if (now >= next_hb_) {
      next_hb_ = now + opts_.heartbeat_ms;
      fb::FlatBufferBuilder fbb(32);
      send(proto::finish(fbb, wire::CreateHeartbeat(fbb)));
    }
    if (addr_.inproc.empty() && now - last_heard_ > opts_.liveness_ms) {
      if (auto why = watch_->failure(curve_.has_value())) {
        if (*why != refused_why_) log::error("daemon " + addr_.str() + ": " + *why + "; retrying");
        refused_why_ = *why;
      } else {
        log::warn("daemon " + addr_.str() + " silent for " + std::to_string(now - last_heard_) +
                  " ms; reconnecting");
      }
      // Wait a little longer each time the daemon stays away.
      clock_.sleep_ms(backoff_.next_ms());
      connect();
    }
  }

  void connect() {
    static int seq = 0;
    watch_.reset();
    dealer_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
    watch_ = std::make_unique<proto::HandshakeWatch>(ctx_, *dealer_, "worker-" + std::to_string(++seq));
    dealer_->set(zmq::sockopt::linger, 0);
    dealer_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(proto::kMaxWorkerMessage));
    dealer_->set(zmq::sockopt::sndhwm, 10000);
    dealer_->set(zmq::sockopt::rcvhwm, 100000);
    if (curve_) curve_->apply(*dealer_);
    // Without keys, a same-user local daemon is reached through its private Unix sockets;
    // looked up again at every reconnect (the daemon may have started after us).
    Address ep = curve_ || !addr_.inproc.empty() ? addr_ : prefer_local(addr_, 0);
    {
      std::lock_guard<std::mutex> lock(mu_);
      sink_endpoint_ = ep.sink();
    }
    dealer_->connect(ep.ventilator());
    last_heard_ = clock_.now_ms();
    next_hb_ = last_heard_ + opts_.heartbeat_ms;
    // Fetches in flight were addressed to the old connection.
    outstanding_ = 0;
    fetch_queue_.clear();
    large_.clear();
    for (auto& d : fetching_) fetch_queue_.push_back({d.first, 0});
    for (auto& d : fetching_) cache_.abandon(d.second);
    hello();
  }

  void hello() {
    fb::FlatBufferBuilder fbb(256);
    send(proto::finish(fbb, wire::CreateHello(fbb, fbb.CreateString(opts_.id), fbb.CreateString(hostname()),
                                              opts_.slots, fbb.CreateString(platform()), ::getpid(), sandboxed_,
                                              fbb.CreateVectorOfStrings(opts_.allow_programs), opts_.allow_any_program,
                                              fbb.CreateString(opts_.private_for), opts_.prefetch)));
    int free_slots;
    {
      std::lock_guard<std::mutex> lock(mu_);   // slot threads change busy_
      // One task ahead: the daemon adds the rest of the prefetch while the tasks are short
      // (Hello.prefetch is the most it may queue here; schemas/zbuild.fbs).
      free_slots = opts_.slots + std::min(opts_.prefetch, 1) - busy_ - static_cast<int>(fetch_jobs_.size());
    }
    if (free_slots > 0) send_credit(free_slots);
  }

  void send_credit(int n) {
    fb::FlatBufferBuilder fbb(32);
    send(proto::finish(fbb, wire::CreateCredit(fbb, n)));
  }

  void send(const std::string& payload) {
    try {
      (void)dealer_->send(zmq::buffer(payload), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      log::warn(std::string("send to daemon failed: ") + e.what());
    }
  }

  void handle(const zmq::message_t& m) {
    auto env = proto::decode(m.data(), m.size(), proto::kMaxWorkerMessage);
    if (!env.ok()) {
      log::warn("daemon " + addr_.str() + ": " + env.error().message + "; dropped");
      return;
    }
    const wire::Envelope* e = env.value().get();
    switch (e->body_type()) {
      case wire::Body::Welcome: {
        auto* w = e->body_as_Welcome();
        if (!welcomed_) log::info("joined daemon " + addr_.str() + " as " + opts_.id + " with " +
                                  std::to_string(opts_.slots) + " slots");
        welcomed_ = true;
        if (w->heartbeat_ms() > 0) opts_.heartbeat_ms = w->heartbeat_ms();
        break;
      }
      case wire::Body::Heartbeat: break;
      case wire::Body::ErrorReply:
        log::info("daemon does not know this worker (" + str(e->body_as_ErrorReply()->message()) + "); announcing again");
        hello();
        break;
      case wire::Body::TaskAssign: on_task(e->body_as_TaskAssign()); break;
      case wire::Body::BlobChunk: on_chunk(e->body_as_BlobChunk()); break;
      default: log::warn(std::string("daemon sent unexpected ") + proto::body_name(e->body_type()) + "; dropped");
    }
  }

  void on_task(const wire::TaskAssign* t) {
    auto job = std::make_unique<Job>();
    job->task_id = t->task_id();
    job->attempt = t->attempt();
    job->token = t->token();
    job->received_ms = clock_.now_ms();
    auto a = proto::parse_action(t->action());
    if (!a.ok()) {
      job->infra_error = "bad task: " + a.error().message;
      enqueue(std::move(job));
      return;
    }
    job->action = std::move(a.value());
    for (auto& in : job->action.inputs) want(*job, in.digest);
    if (!job->action.toolchain.empty()) want(*job, job->action.toolchain);
    if (job->waiting.empty()) {
      ready(std::move(job));
      return;
    }
    fetch_jobs_.push_back(std::move(job));
    pump_fetches();
  }

  // Adds `d` to what `job` waits for, unless the blob cache has it.
  void want(Job& job, const Digest& d) {
    if (cache_.has(d)) return;
    auto key = d.str();
    job.waiting.insert(key);
    if (!fetching_.count(key)) {
      fetching_[key] = d;
      fetch_queue_.push_back({key, 0});
    }
  }

  // Every blob the job waited for is here. A task with a toolchain runs with this host's files
  // when they match the client's; otherwise the toolchain's blobs are fetched first (once per
  // worker: later tasks find them in the blob cache) and it runs with the shipped root.
  void ready(std::unique_ptr<Job> job) {
    if (!job->infra_error.empty() || job->action.toolchain.empty() || job->placed) {
      enqueue(std::move(job));
      return;
    }
    job->placed = true;
    auto tree = toolchains_.tree(job->action.toolchain);
    if (!tree.ok()) {
      job->infra_error = tree.error().message;
    } else if (!toolchains_.host_matches(*tree.value(), job->action.host_files)) {
      job->shipped = true;
      if (!sandboxed_) {
        job->infra_error = "this host's toolchain differs from the client's, and running the client's needs the "
                           "sandbox (this worker runs with --sandbox none)";
      } else {
        for (auto& d : toolchains_.missing_blobs(*tree.value(), job->action.host_files)) {
          if (!fetching_.count(d.str())) job->shipped_bytes += d.size;   // not already on its way for another task
          want(*job, d);
        }
        if (!job->waiting.empty()) {
          log::info("task " + std::to_string(job->task_id) + ": this host's toolchain differs from the client's; "
                    "fetching " + std::to_string(job->waiting.size()) + " blobs (" +
                    std::to_string(job->shipped_bytes) + " bytes) of toolchain " + job->action.toolchain.hex().substr(0, 12));
          fetch_jobs_.push_back(std::move(job));
          pump_fetches();
          return;
        }
      }
    }
    enqueue(std::move(job));
  }

  void pump_fetches() {
    constexpr int kWindow = 32;   // chunk requests in flight (flow control)
    // One large blob (a compiler of a shipped toolchain) at a time: the daemon keeps the blobs it
    // serves in a bounded cache, and several large ones at once would each be read again per chunk.
    constexpr uint64_t kLarge = 8u << 20;
    std::vector<wire::ChunkRef> refs;
    std::deque<std::pair<std::string, uint64_t>> later;
    while (outstanding_ + static_cast<int>(refs.size()) < kWindow && !fetch_queue_.empty()) {
      auto [key, off] = fetch_queue_.front();
      fetch_queue_.pop_front();
      auto it = fetching_.find(key);
      if (it == fetching_.end()) continue;
      if (it->second.size > kLarge && off == 0) {
        if (!large_.empty() && large_ != key) {
          later.push_back({key, off});
          continue;
        }
        large_ = key;
      }
      refs.emplace_back(proto::to_wire(it->second), off, static_cast<uint32_t>(proto::kChunkSize));
    }
    fetch_queue_.insert(fetch_queue_.end(), later.begin(), later.end());
    if (refs.empty()) return;
    outstanding_ += static_cast<int>(refs.size());
    fb::FlatBufferBuilder fbb(64 + refs.size() * 40);
    send(proto::finish(fbb, wire::CreateBlobRequest(fbb, fbb.CreateVectorOfStructs(refs))));
  }

  void on_chunk(const wire::BlobChunk* c) {
    outstanding_ = std::max(0, outstanding_ - 1);
    Digest d = proto::from_wire(c->digest());
    auto key = d.str();
    if (!fetching_.count(key)) return;
    std::string error;
    bool complete = false;
    if (c->missing()) {
      error = "input blob " + key + " is missing on the daemon";
    } else {
      auto r = cache_.add_chunk(d, c->offset(), proto::bytes(c->data()));
      if (!r.ok()) error = r.error().message;
      else complete = r.value();
      if (r.ok() && !complete) fetch_queue_.push_front({key, c->offset() + (c->data() ? c->data()->size() : 0)});
    }
    if (complete || !error.empty()) {
      fetching_.erase(key);
      if (large_ == key) large_.clear();
      if (!error.empty()) cache_.abandon(d);
      std::vector<std::unique_ptr<Job>> done;
      for (auto it = fetch_jobs_.begin(); it != fetch_jobs_.end();) {
        Job& j = **it;
        if (j.waiting.erase(key) && !error.empty() && j.infra_error.empty()) j.infra_error = error;
        if (j.waiting.empty()) {
          j.fetch_ms = clock_.now_ms() - j.received_ms;
          done.push_back(std::move(*it));
          it = fetch_jobs_.erase(it);
        } else {
          ++it;
        }
      }
      for (auto& j : done) ready(std::move(j));
    }
    pump_fetches();
  }

  void enqueue(std::unique_ptr<Job> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(job));
      busy_++;
    }
    cv_.notify_one();
  }

  std::unique_ptr<zmq::socket_t> sink_socket(const std::string& endpoint) {
    auto push = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::push);
    push->set(zmq::sockopt::linger, 2000);
    push->set(zmq::sockopt::sndtimeo, 30000);
    if (curve_) curve_->apply(*push);
    push->connect(endpoint);
    return push;
  }

  void slot_main(int slot) {
    ::pthread_setname_np(::pthread_self(), ("zb-slot-" + std::to_string(slot)).substr(0, 15).c_str());   // top -H, perf
    std::string endpoint;
    std::unique_ptr<zmq::socket_t> push;
    // This slot's results held back (its own: a result must travel on the socket its outputs
    // went on, so that it cannot overtake them).
    Outbox outbox;
    for (;;) {
      std::unique_ptr<Job> job;
      bool moved = false;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (queue_.empty() && !outbox.empty()) {   // about to wait: what it holds goes first
          lock.unlock();
          send_all(*push, outbox.take());
          lock.lock();
        }
        cv_.wait(lock, [&] { return quitting_ || !queue_.empty(); });
        if (quitting_) {
          lock.unlock();
          if (!outbox.empty() && !aborting_) send_all(*push, outbox.take());
          return;
        }
        job = std::move(queue_.front());
        queue_.pop_front();
        moved = sink_endpoint_ != endpoint || !push;
        if (moved) endpoint = sink_endpoint_;
      }
      if (moved) {   // the daemon's endpoint changed: what was held goes where its outputs went
        if (push && !outbox.empty()) send_all(*push, outbox.take());
        push = sink_socket(endpoint);
      }
      run_job(slot, *job, *push, outbox);
      {
        std::lock_guard<std::mutex> lock(mu_);
        busy_--;
      }
    }
  }

  static void send_all(zmq::socket_t& push, const std::vector<std::string>& msgs) {
    for (auto& m : msgs) {
      if (!push.send(zmq::buffer(m), zmq::send_flags::none)) {
        log::warn("a result could not be sent (daemon unreachable)");
        return;
      }
    }
  }

  void run_job(int slot, Job& job, zmq::socket_t& push, Outbox& outbox) {
    // While this task runs, what the outbox holds goes when it is due.
    DueCall due;
    due.after_ms = outbox.due_in(clock_.now_ms());
    due.call = [&] { send_all(push, outbox.take()); };
    ExecResult r;
    if (!job.infra_error.empty()) {
      r.infra_error = job.infra_error;
    } else {
      HostSide host;
      host.checked = job.placed && !job.shipped;   // ready() compared this host's files just now
      if (job.shipped) {
        auto root = toolchains_.root_for(job.action.toolchain, job.action.host_files);
        if (!root.ok()) r.infra_error = "shipped toolchain: " + root.error().message;
        else host.shipped_root = root.value();
        if (job.shipped_bytes > 0 && root.ok()) {
          log::info("toolchain " + job.action.toolchain.hex().substr(0, 12) + " ready: " +
                    std::to_string(job.shipped_bytes) + " bytes fetched, " +
                    std::to_string(clock_.now_ms() - job.received_ms) + " ms from the task's arrival");
        }
      }
      // The task runs in its slot's own folder (Executor::run with a slot index): no name of its own.
      if (r.infra_error.empty()) {
        r = executor_->run(job.action, std::string(), host,
                           slot < static_cast<int>(slot_sandboxes_.size()) ? slot_sandboxes_[slot].get() : nullptr, slot,
                           &due);
      }
    }
    if (aborting_) {   // killed by the worker stopping (or finished as it stops): no result
      executor_->cleanup(r);
      return;
    }
    int64_t up_start = clock_.now_ms();
    // The outputs go now, chunk by chunk (the sink keeps them until their result comes); the
    // result may wait in the outbox.
    if (r.infra_error.empty() && r.exit_code == 0) {
      for (auto& o : r.outputs) {
        auto data = read_file(r.sandbox / o.path);
        if (!data.ok()) {
          r.infra_error = "reading output: " + data.error().message;
          break;
        }
        push_blob(push, o.digest, data.value());
      }
    }
    int64_t up_ms = clock_.now_ms() - up_start;
    fb::FlatBufferBuilder fbb(512 + r.out.size() + r.err.size());
    std::vector<std::string> msgs;
    msgs.push_back(proto::finish(
        fbb, wire::CreateTaskResult(fbb, job.task_id, job.attempt, fbb.CreateString(opts_.id), r.exit_code,
                                    fbb.CreateVector(reinterpret_cast<const uint8_t*>(r.out.data()), r.out.size()),
                                    fbb.CreateVector(reinterpret_cast<const uint8_t*>(r.err.data()), r.err.size()),
                                    proto::build_outputs(fbb, r.outputs), fbb.CreateString(r.infra_error),
                                    job.fetch_ms, r.run_ms, up_ms, slot, job.token)));
    size_t queued;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued = queue_.size();
    }
    send_all(push, outbox.add(std::move(msgs), queued, clock_.now_ms()));
    if (!r.infra_error.empty()) log::warn("task " + std::to_string(job.task_id) + ": " + r.infra_error);
    executor_->cleanup(r);   // after the result is on its way or held (the slot is not free before)
  }

  void push_blob(zmq::socket_t& push, const Digest& d, const std::string& data) {
    size_t off = 0;
    do {
      size_t len = std::min(proto::kChunkSize, data.size() - off);
      fb::FlatBufferBuilder fbb(len + 256);
      auto wd = proto::to_wire(d);
      auto msg = proto::finish(
          fbb, wire::CreateBlobChunk(fbb, &wd, off,
                                     fbb.CreateVector(reinterpret_cast<const uint8_t*>(data.data() + off), len), false,
                                     fbb.CreateString(opts_.id)));
      (void)push.send(zmq::buffer(msg), zmq::send_flags::none);
      off += len;
    } while (off < data.size());
  }

  WorkerOptions opts_;
  Address addr_;
  std::optional<proto::CurveClient> curve_;
  SteadyClock clock_;
  // Reconnects: 100 ms after the first silence, doubling to 2 s while the daemon stays away.
  Backoff backoff_{100, 2000};
  std::unique_ptr<zmq::context_t> own_ctx_;   // none when the daemon's context is lent (local slots)
  zmq::context_t& ctx_;
  BlobCache cache_;
  HostFileChecker hosts_;
  Toolchains toolchains_;
  std::unique_ptr<Executor> executor_;
  std::vector<std::unique_ptr<SlotSandbox>> slot_sandboxes_;   // one per slot, each used by its slot thread only
  std::unique_ptr<zmq::socket_t> dealer_;
  std::unique_ptr<proto::HandshakeWatch> watch_;
  std::string refused_why_;   // the last handshake refusal, said once
  int64_t last_heard_ = 0;
  int64_t next_hb_ = 0;
  bool welcomed_ = false;
  bool sandboxed_ = false;

  // Fetching (main thread only).
  std::map<std::string, Digest> fetching_;
  std::deque<std::pair<std::string, uint64_t>> fetch_queue_;
  std::vector<std::unique_ptr<Job>> fetch_jobs_;
  int outstanding_ = 0;
  std::string large_;   // the large blob being fetched, if any

  // Slots.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  int busy_ = 0;   // jobs queued or running
  bool quitting_ = false;
  std::atomic<bool> aborting_{false};   // stopping: running tasks are killed and their results dropped
  std::string sink_endpoint_;   // where results go (changes when the daemon's endpoint does)
  std::vector<std::thread> threads_;
  TaskRoot task_root_;
};

}  // namespace

namespace {

// What a worker process and the daemon's own slots share: the options completed, the daemon's
// address, the keys.
struct Setup {
  WorkerOptions o;
  Address addr;
  std::optional<proto::CurveClient> curve;
  bool own_dir = false;
  int own_dir_lock = -1;   // own_dir: held while the worker runs (task_root.h, claim_work_folder)
};

Result<Setup> set_up(const WorkerOptions& in) {
  Setup s;
  s.o = in;
  WorkerOptions& o = s.o;
  if (o.inproc.empty()) {
    auto addr = parse_address(o.daemon);
    if (!addr.ok()) return addr.error();
    s.addr = addr.value();
  } else if (!o.context) {
    return make_error("in-process endpoints without the daemon's ZeroMQ context");
  } else {
    s.addr.inproc = o.inproc;
  }
  if (o.slots <= 0) o.slots = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (o.id.empty()) {
    std::random_device rd;
    o.id = hostname() + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
  }
  if (const char* p = std::getenv("ZBUILD_PRIVATE_FOR"); p && *p && o.inproc.empty()) o.private_for = p;   // never on the command line
  s.own_dir = o.work_dir.empty();
  // In the daemon's own process nothing crosses a socket: no keys (nor $ZBUILD_CURVE_KEY).
  auto curve = o.inproc.empty() ? proto::load_curve_client(o.curve_key, o.daemon_key)
                                : Result<std::optional<proto::CurveClient>>(std::nullopt);
  if (!curve.ok()) return curve.error();
  s.curve = std::move(curve.value());
  if (s.own_dir) {   // last: nothing above can fail and leave it made
    const char* tmp = std::getenv("TMPDIR");
    std::string parent = tmp && *tmp ? tmp : "/tmp";
    auto own = claim_work_folder(parent, ::getpid());
    if (!own.ok()) return own.error();
    s.own_dir_lock = own.value().lock_fd;
    o.work_dir = own.value().dir.string();
  }
  return s;
}

// Nothing left behind: the default work folder goes entirely; in an operator's --work-dir
// the blob cache stays (it saves fetches next time) and the task folders go.
void clean_up(const Setup& s, TaskRoot& tr) {
  std::error_code ec;
  std::filesystem::remove_all(s.own_dir ? std::filesystem::path(s.o.work_dir)
                                        : std::filesystem::path(s.o.work_dir) / "sandbox", ec);
  if (s.own_dir_lock >= 0) ::close(s.own_dir_lock);
  release_task_root(tr);
}

class InProcessWorker final : public LocalWorker {
 public:
  explicit InProcessWorker(Setup s) : s_(std::move(s)), w_(std::make_unique<Worker>(s_.o, s_.addr, std::move(s_.curve))) {}
  ~InProcessWorker() override {
    if (started_) w_->finish();
    TaskRoot tr = w_->task_root();
    w_.reset();   // slots and their sandboxes stopped
    clean_up(s_, tr);
  }
  Status start() {
    ZB_TRY(w_->start());
    started_ = true;
    w_->begin();
    return {};
  }
  void step() override { w_->step(); }

 private:
  Setup s_;
  std::unique_ptr<Worker> w_;
  bool started_ = false;
};

}  // namespace

Status run_worker(const WorkerOptions& in, const std::atomic<bool>& stop) {
  if (!in.inproc.empty()) return make_error("in-process endpoints: the daemon's slots start with start_local_worker");
  auto s = set_up(in);
  if (!s.ok()) return s.error();
  const WorkerOptions& o = s.value().o;
  Status started;
  TaskRoot tr;
  {
    Worker w(o, s.value().addr, std::move(s.value().curve));
    started = w.start();
    tr = w.task_root();
    if (started.ok()) {
      log::info("worker " + o.id + " connecting to " + s.value().addr.str() + " with " + std::to_string(o.slots) +
                " slots, work dir " + o.work_dir);
      w.run(stop);
    }
  }   // slots and their sandboxes stopped
  clean_up(s.value(), tr);
  return started;
}

Result<std::unique_ptr<LocalWorker>> start_local_worker(const WorkerOptions& in) {
  if (in.inproc.empty()) return make_error("the daemon's own slots need in-process endpoints");
  auto s = set_up(in);   // refuses them without the daemon's ZeroMQ context
  if (!s.ok()) return s.error();
  std::string id = s.value().o.id;
  int slots = s.value().o.slots;
  auto w = std::make_unique<InProcessWorker>(std::move(s.value()));
  ZB_TRY(w->start());
  log::info("worker " + id + " (the daemon's own slots) started in-process with " + std::to_string(slots) + " slots");
  return std::unique_ptr<LocalWorker>(std::move(w));
}

}  // namespace zbuild::worker
