#include "tools/probe_attacks.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/address.h"
#include "proto/wire.h"

namespace fb = flatbuffers;
using namespace zbuild;

namespace {
int failures = 0;
}  // namespace

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok) failures++;
}

int failure_count() { return failures; }

namespace {

// Receives one verified envelope within `ms` (the bytes stay in `keep`); get() is null when
// nothing valid came.
proto::Frame recv_env(zmq::socket_t& s, int ms, zmq::message_t& keep, size_t cap) {
  zmq::pollitem_t it{s.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&it, 1, std::chrono::milliseconds(ms)) <= 0) return {};
  if (!s.recv(keep, zmq::recv_flags::dontwait)) return {};
  auto env = proto::decode(keep.data(), keep.size(), cap);
  if (!env.ok()) return {};
  return std::move(env.value());
}

// ---------------------------------------------------------------- a hostile worker

struct Assigned {
  uint64_t task_id = 0;
  int attempt = 0;
  uint64_t token = 0;
  ActionSpec action;
};

class HostileWorker {
 public:
  HostileWorker(zmq::context_t& ctx, const Address& a) : vent_(ctx, zmq::socket_type::dealer), sink_(ctx, zmq::socket_type::push) {
    vent_.set(zmq::sockopt::linger, 1000);
    sink_.set(zmq::sockopt::linger, 2000);
    vent_.connect(a.ventilator());
    sink_.connect(a.sink());
    fb::FlatBufferBuilder h;
    send(proto::finish(h, wire::CreateHello(h, h.CreateString("hostile-probe"), h.CreateString("probe-host"), 1,
                                            h.CreateString("Linux-x86_64"), 1, true)));
    fb::FlatBufferBuilder c;
    send(proto::finish(c, wire::CreateCredit(c, 1)));
  }

  void send(const std::string& m) { (void)vent_.send(zmq::buffer(m), zmq::send_flags::none); }

  std::optional<Assigned> await_task(int seconds) {
    for (int i = 0; i < seconds * 5; ++i) {
      zmq::message_t m;
      auto e = recv_env(vent_, 200, m, proto::kMaxWorkerMessage);
      if (!e.get()) continue;
      if (e->body_type() == wire::Body::Heartbeat) {
        fb::FlatBufferBuilder hb;
        send(proto::finish(hb, wire::CreateHeartbeat(hb)));
      }
      if (auto* t = e->body_as_TaskAssign()) {
        auto a = proto::parse_action(t->action());
        if (!a.ok()) continue;
        return Assigned{t->task_id(), t->attempt(), t->token(), a.value()};
      }
    }
    return std::nullopt;
  }

  void upload(const Digest& d, const std::string& data) {
    fb::FlatBufferBuilder b;
    auto wd = proto::to_wire(d);
    (void)sink_.send(zmq::buffer(proto::finish(
                         b, wire::CreateBlobChunk(b, &wd, 0, b.CreateVector(reinterpret_cast<const uint8_t*>(data.data()),
                                                                            data.size()),
                                                  false, b.CreateString("hostile-probe")))),
                     zmq::send_flags::none);
  }

  void result(uint64_t task, int attempt, uint64_t token, const std::vector<OutputSpec>& outs) {
    fb::FlatBufferBuilder b;
    auto o = proto::build_outputs(b, outs);
    (void)sink_.send(zmq::buffer(proto::finish(
                         b, wire::CreateTaskResult(b, task, attempt, b.CreateString("some-other-worker"), 0, 0, 0, o, 0, 0,
                                                   1, 0, 0, token))),
                     zmq::send_flags::none);
  }

  // Answers heartbeats until the process is stopped.
  [[noreturn]] void hold() {
    for (;;) (void)await_task(3600);
  }

  void bye() {
    fb::FlatBufferBuilder b;
    send(proto::finish(b, wire::CreateBye(b)));
  }

 private:
  zmq::socket_t vent_;
  zmq::socket_t sink_;
};

// Takes a task, then answers it with forged objects: a wrong token, another task's id, and a
// result from a peer that never received a dispatch. Leaves (Bye) so the task goes elsewhere.
int worker_forge(zmq::context_t& ctx, const Address& a) {
  HostileWorker w(ctx, a);
  auto t = w.await_task(60);
  check(t.has_value(), "forge: a task was dispatched to the hostile worker");
  if (!t) return 1;
  std::string forged = "FORGED OBJECT from zbuild-probe\n";
  Digest fd = digest_bytes(forged);
  w.upload(fd, forged);
  std::vector<OutputSpec> outs;
  for (auto& o : t->action.outputs) outs.push_back(OutputSpec{o, fd, false});
  w.result(t->task_id, t->attempt, t->token ^ 0x5a5a5a5aull, outs);    // wrong token
  w.result(t->task_id, t->attempt + 1, t->token, outs);                 // wrong attempt
  w.result(t->task_id + 1, t->attempt, t->token, outs);                 // another task
  w.result(t->task_id, t->attempt, 0, outs);                            // no token at all
  std::printf("forge: sent 4 forged results for task %llu\n", static_cast<unsigned long long>(t->task_id));
  w.bye();
  return failures ? 1 : 0;
}

// Takes a task and answers it, with the right token, with its outputs plus undeclared ones
// (a git hook with its executable bit, a path climbing out of the root).
int worker_extra(zmq::context_t& ctx, const Address& a) {
  HostileWorker w(ctx, a);
  auto t = w.await_task(60);
  check(t.has_value(), "extra: a task was dispatched to the hostile worker");
  if (!t) return 1;
  std::string hook = "#!/bin/sh\necho pwned > /tmp/zbuild-probe-pwned\n";
  Digest hd = digest_bytes(hook);
  w.upload(hd, hook);
  std::string obj = "object with a friend\n";
  Digest od = digest_bytes(obj);
  w.upload(od, obj);
  std::vector<OutputSpec> outs;
  for (auto& o : t->action.outputs) outs.push_back(OutputSpec{o, od, false});
  outs.push_back(OutputSpec{".git/hooks/pre-commit", hd, true});
  w.result(t->task_id, t->attempt, t->token, outs);
  std::printf("extra: answered task %llu with an undeclared .git/hooks/pre-commit\n",
              static_cast<unsigned long long>(t->task_id));
  std::fflush(stdout);
  w.hold();   // stays connected (answering heartbeats) until the test stops it
  return failures ? 1 : 0;
}

// ---------------------------------------------------------------- a hostile client

std::string status_json(zmq::socket_t& s) {
  fb::FlatBufferBuilder st;
  (void)s.send(zmq::buffer(proto::finish(st, wire::CreateStatusRequest(st), 999)), zmq::send_flags::none);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {   // upload acks come first
    zmq::message_t m;
    auto e = recv_env(s, 200, m, proto::kMaxClientMessage);
    if (e.get() && e->request_id() == 999 && e->body_as_StatusReply()) return proto::str(e->body_as_StatusReply()->json());
  }
  return {};
}

// Claims `n` blobs of 4 GiB each and sends the first 512 KiB of each: the daemon must hold
// what arrived (capped), not what was claimed, and keep answering.
int flood(zmq::context_t& ctx, const Address& a, int n) {
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 1000);
  s.set(zmq::sockopt::sndhwm, 0);
  s.connect(a.client());
  std::string chunk(proto::kChunkSize, 'F');
  for (int i = 0; i < n; ++i) {
    Digest d{0x1234ull + static_cast<uint64_t>(i), 0x9876ull, 4ull << 30};
    auto wd = proto::to_wire(d);
    fb::FlatBufferBuilder b(chunk.size() + 256);
    (void)s.send(zmq::buffer(proto::finish(
                     b, wire::CreateBlobChunk(b, &wd, 0, b.CreateVector(reinterpret_cast<const uint8_t*>(chunk.data()),
                                                                        chunk.size())),
                     static_cast<uint64_t>(i + 1))),
                 zmq::send_flags::none);
  }
  std::string js = status_json(s);
  check(!js.empty(), "flood: the daemon still answers status after " + std::to_string(n) + " 4 GiB claims");
  std::printf("status: %s\n", js.c_str());
  return failures ? 1 : 0;
}

// Uploads `data` as one blob through the client endpoint.
bool upload(zmq::socket_t& s, const std::string& data, uint64_t rid) {
  Digest d = digest_bytes(data);
  auto wd = proto::to_wire(d);
  fb::FlatBufferBuilder b;
  (void)s.send(zmq::buffer(proto::finish(
                   b, wire::CreateBlobChunk(b, &wd, 0, b.CreateVector(reinterpret_cast<const uint8_t*>(data.data()), data.size())),
                   rid)),
               zmq::send_flags::none);
  for (int i = 0; i < 50; ++i) {
    zmq::message_t m;
    auto e = recv_env(s, 200, m, proto::kMaxClientMessage);
    if (e.get() && e->request_id() == rid && e->body_as_UploadAck()) return proto::str(e->body_as_UploadAck()->error()).empty();
  }
  return false;
}

// Submits one hostile task straight through the protocol (no `zbuild submit` checks) and
// prints how it ended: "refused: MSG" (ErrorReply), or "state=N exit=E message=M stderr=S".
int submit(zmq::context_t& ctx, const Address& a, const std::string& kind, const std::string& root,
           const std::string& marker) {
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 1000);
  s.connect(a.client());
  std::string src = "int main(void) { return 0; }\n";
  check(upload(s, src, 1), "submit: source uploaded");
  ActionSpec act;
  act.root = root;
  act.cwd = ".";
  act.inputs.push_back(InputSpec{"a.c", digest_bytes(src), false, 0});
  act.outputs = {"a.o"};
  act.argv = {"gcc", "-c", "a.c", "-o", "a.o"};
  if (kind == "ldpreload") {
    act.env = {"LD_PRELOAD=" + root + "/evil.so"};
  } else if (kind == "wrapper") {
    act.argv = {"gcc", "-wrapper", "/bin/sh,-c,touch " + marker, "-c", "a.c", "-o", "a.o"};
  } else if (kind == "rspfile") {
    std::string rsp = "-wrapper /bin/sh,-c,'touch " + marker + "'\n";
    check(upload(s, rsp, 2), "submit: response file uploaded");
    act.inputs.push_back(InputSpec{"evil.rsp", digest_bytes(rsp), false, 0});
    act.argv = {"gcc", "@evil.rsp", "-c", "a.c", "-o", "a.o"};
  } else if (kind == "plugin") {
    act.argv = {"gcc", "-fplugin=" + root + "/evil.so", "-c", "a.c", "-o", "a.o"};
  } else if (kind == "shipped-program") {
    act.argv = {root + "/gcc", "-c", "a.c", "-o", "a.o"};
  } else if (kind.rfind("hostfile:", 0) == 0) {
    act.host_files.push_back(HostFileSpec{kind.substr(9), Digest{1, 2, 3}});
  } else if (kind.rfind("tree-escape:", 0) == 0 || kind.rfind("tree-below-link:", 0) == 0) {
    // A toolchain tree that differs from every host (so the worker builds a private root from
    // it) and tries to write DIR/pwned on the worker's host: through a link of the tree that a
    // header's path goes through, or with an entry below a link of the tree.
    std::string dir = kind.substr(kind.find(':') + 1);
    std::string fake = "not a real toolchain file\n", pwned = "pwned\n";
    check(upload(s, fake, 3) && upload(s, pwned, 4), "submit: tree blobs uploaded");
    std::string tree = "zbuild-toolchain 1\n";
    if (kind.rfind("tree-escape:", 0) == 0) {
      tree += "d\t/usr\nd\t/usr/lib\nf\t/usr/lib/zbuild-probe-fake\t" + digest_bytes(fake).str() + "\nl\t/usr/lib/zbx\t" +
              dir + "\n";
      act.host_files.push_back(HostFileSpec{"/usr/lib/zbx/pwned", digest_bytes(pwned)});
    } else {
      tree += "l\t/usr/lib\t" + dir + "\nf\t/usr/lib/pwned\t" + digest_bytes(pwned).str() + "\n";
    }
    check(upload(s, tree, 5), "submit: tree uploaded");
    act.toolchain = digest_bytes(tree);
  } else {
    std::fprintf(stderr, "unknown submit kind %s\n", kind.c_str());
    return 2;
  }
  fb::FlatBufferBuilder fbb;
  std::vector<fb::Offset<wire::SubmitTask>> ts{
      wire::CreateSubmitTask(fbb, fbb.CreateString("hostile-" + kind), proto::build_action(fbb, act))};
  (void)s.send(zmq::buffer(proto::finish(fbb, wire::CreateSubmitBuild(fbb, fbb.CreateString("probe"), fbb.CreateVector(ts)), 7)),
               zmq::send_flags::none);
  for (int i = 0; i < 600; ++i) {
    zmq::message_t m;
    auto e = recv_env(s, 200, m, proto::kMaxClientMessage);
    if (!e.get() || e->request_id() != 7) continue;
    if (auto* er = e->body_as_ErrorReply()) {
      std::printf("refused: %s\n", proto::str(er->message()).c_str());
      return 0;
    }
    if (auto* te = e->body_as_TaskEvent()) {
      if (te->state() == wire::TaskState::Running || te->state() == wire::TaskState::Queued) continue;
      std::printf("state=%d exit=%d message=%s stderr=%s\n", static_cast<int>(te->state()), te->exit_code(),
                  proto::str(te->message()).c_str(), std::string(proto::bytes(te->stderr_data())).c_str());
    }
    if (e->body_as_BuildDone()) return failures ? 1 : 0;
  }
  check(false, "submit: the build did not end");
  return 1;
}

}  // namespace

int run_attack(int argc, char** argv) {
  auto parsed = parse_address(argv[1]);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.error().message.c_str());
    return 2;
  }
  Address a = prefer_local(parsed.value());
  std::string attack = argv[2];
  zmq::context_t ctx;
  if (attack == "worker-forge") return worker_forge(ctx, a);
  if (attack == "worker-extra") return worker_extra(ctx, a);
  if (attack == "flood" && argc == 4) return flood(ctx, a, std::atoi(argv[3]));
  if (attack == "submit" && argc >= 5) return submit(ctx, a, argv[3], argv[4], argc > 5 ? argv[5] : "/tmp/zbuild-probe-marker");
  std::fprintf(stderr,
               "usage: zbuild-probe ADDR worker-forge | worker-extra | flood N | submit KIND ROOT [MARKER]\n"
               "  KIND: ldpreload, wrapper, rspfile, plugin, shipped-program, hostfile:PATH, tree-escape:DIR,\n"
               "        tree-below-link:DIR\n");
  return 2;
}
