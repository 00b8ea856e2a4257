// zbuild-probe: a hostile peer for tests, speaking the real protocol.
//   zbuild-probe HOST:PORT             garbage, truncated, oversized, wrong-version and
//                                      hostile-but-well-formed messages to every endpoint
//   zbuild-probe HOST:PORT ATTACK ...  one attack of the hostile-peer suite (see attacks below)
// Checks the replies a well-behaved daemon must give; exit 0 when every check held.
// Without keys it reaches a same-user local daemon through its private sockets, as a worker does.
#include <cstdio>
#include <random>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/address.h"
#include "proto/wire.h"
#include "tools/probe_attacks.h"

namespace fb = flatbuffers;
using namespace zbuild;

namespace {

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string wrong_version() {
  fb::FlatBufferBuilder fbb;
  auto hb = wire::CreateHeartbeat(fbb);
  fbb.Finish(wire::CreateEnvelope(fbb, 99, 0, wire::Body::Heartbeat, hb.Union()));
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

std::string hello_truncated() {
  fb::FlatBufferBuilder fbb;
  auto msg = proto::finish(fbb, wire::CreateHello(fbb, fbb.CreateString("probe"), fbb.CreateString("h"), 4));
  return msg.substr(0, msg.size() / 2);
}

// An Envelope whose union type says BlobChunk but whose body is absent (found by fuzzing).
std::string union_without_body() {
  const unsigned char b[] = {0x10, 0, 0, 0, 0, 0, 0, 8, 0x10, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 8};
  return std::string(reinterpret_cast<const char*>(b), sizeof b);
}

std::vector<std::string> garbage_set(size_t oversize) {
  return {random_bytes(100, 1), std::string(), random_bytes(7, 2), hello_truncated(), wrong_version(),
          union_without_body(), random_bytes(4096, 3), std::string(oversize, 'x')};
}

void send_all(zmq::socket_t& s, const std::vector<std::string>& frames) {
  for (auto& f : frames) (void)s.send(zmq::buffer(f), zmq::send_flags::none);
  // A multipart message where one frame is expected.
  std::vector<zmq::const_buffer> parts{zmq::str_buffer("a"), zmq::str_buffer("b"), zmq::str_buffer("c")};
  (void)zmq::send_multipart(s, parts);
}

// Waits for a reply with request id `rid` on a client DEALER; returns its ErrorReply or
// UploadAck error text ("" when the reply was something else, "<timeout>" when none came).
std::string await_error(zmq::socket_t& s, uint64_t rid) {
  for (int i = 0; i < 50; ++i) {
    zmq::pollitem_t it{s.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&it, 1, std::chrono::milliseconds(200)) <= 0) continue;
    zmq::message_t m;
    if (!s.recv(m, zmq::recv_flags::dontwait)) continue;
    auto env = proto::decode(m.data(), m.size(), proto::kMaxClientMessage);
    if (!env.ok() || env.value()->request_id() != rid) continue;
    if (auto* e = env.value()->body_as_ErrorReply()) return proto::str(e->message());
    if (auto* a = env.value()->body_as_UploadAck()) return proto::str(a->error());
    return "";
  }
  return "<timeout>";
}

std::string submit_one(uint64_t rid, const ActionSpec& a, std::vector<uint32_t> deps, int copies = 1) {
  fb::FlatBufferBuilder fbb;
  std::vector<fb::Offset<wire::SubmitTask>> ts;
  for (int i = 0; i < copies; ++i) {
    ts.push_back(wire::CreateSubmitTask(fbb, fbb.CreateString("hostile-" + std::to_string(i)),
                                        proto::build_action(fbb, a), fbb.CreateVector(deps)));
  }
  return proto::finish(fbb, wire::CreateSubmitBuild(fbb, fbb.CreateString("probe"), fbb.CreateVector(ts)), rid);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3) return run_attack(argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: zbuild-probe HOST:PORT [ATTACK ARGS...]\n");
    return 2;
  }
  auto addr = parse_address(argv[1]);
  if (!addr.ok()) {
    std::fprintf(stderr, "%s\n", addr.error().message.c_str());
    return 2;
  }
  addr = prefer_local(addr.value());
  zmq::context_t ctx;

  {  // Ventilator: garbage, then well-formed messages from a peer that never said Hello.
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 1000);
    s.connect(addr->ventilator());
    send_all(s, garbage_set(9u << 20));
    fb::FlatBufferBuilder fbb;
    (void)s.send(zmq::buffer(proto::finish(fbb, wire::CreateCredit(fbb, 1000000))), zmq::send_flags::none);
    // Unknown workers are told to say hello, not given work.
    bool told = false;
    for (int i = 0; i < 25 && !told; ++i) {
      zmq::pollitem_t it{s.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&it, 1, std::chrono::milliseconds(200)) <= 0) continue;
      zmq::message_t m;
      if (!s.recv(m, zmq::recv_flags::dontwait)) continue;
      auto env = proto::decode(m.data(), m.size(), proto::kMaxWorkerMessage);
      told = env.ok() && env.value()->body_type() == wire::Body::ErrorReply;
    }
    check(told, "ventilator: a peer that never said Hello is refused and asked to announce itself");
  }
  {  // Sink: garbage, results for unknown tasks, corrupt output chunks.
    zmq::socket_t s(ctx, zmq::socket_type::push);
    s.set(zmq::sockopt::linger, 2000);
    s.connect(addr->sink());
    send_all(s, garbage_set(17u << 20));
    fb::FlatBufferBuilder a;
    (void)s.send(zmq::buffer(proto::finish(a, wire::CreateTaskResult(a, 123456789, 1, a.CreateString("nobody"), 0))),
                 zmq::send_flags::none);
    fb::FlatBufferBuilder b;
    auto d = proto::to_wire(digest_bytes("the real content"));
    (void)s.send(zmq::buffer(proto::finish(
                     b, wire::CreateBlobChunk(b, &d, 0, b.CreateVector(reinterpret_cast<const uint8_t*>("forged!"), 7),
                                              false, b.CreateString("nobody")))),
                 zmq::send_flags::none);
    check(true, "sink: garbage, unknown results and forged chunks sent");
  }
  {  // Client endpoint.
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 1000);
    s.connect(addr->client());
    send_all(s, garbage_set(1u << 20));

    ActionSpec a;
    a.argv = {"true"};
    a.outputs = {"x"};
    a.root = "/tmp";
    // A path that climbs out of the root.
    fb::FlatBufferBuilder fbb;
    std::vector<fb::Offset<fb::String>> outs{fbb.CreateString("../../etc/evil")};
    auto bad = wire::CreateAction(fbb, fbb.CreateVectorOfStrings(a.argv), 0, fbb.CreateString("."), 0,
                                  fbb.CreateVector(outs));
    std::vector<fb::Offset<wire::SubmitTask>> ts{wire::CreateSubmitTask(fbb, fbb.CreateString("escape"), bad)};
    (void)s.send(zmq::buffer(proto::finish(fbb, wire::CreateSubmitBuild(fbb, fbb.CreateString("p"), fbb.CreateVector(ts)), 11)),
                 zmq::send_flags::none);
    auto e = await_error(s, 11);
    check(e.find("climbs out") != std::string::npos, "client: an output escaping the root is refused: " + e);

    ActionSpec b = a;
    b.inputs.push_back(InputSpec{"src/never-uploaded.c", digest_bytes("not uploaded anywhere"), false, 0});
    (void)s.send(zmq::buffer(submit_one(12, b, {})), zmq::send_flags::none);
    e = await_error(s, 12);
    check(e.find("was not uploaded") != std::string::npos, "client: an input that was not uploaded is refused: " + e);

    (void)s.send(zmq::buffer(submit_one(13, a, {1}, 2)), zmq::send_flags::none);
    e = await_error(s, 13);
    check(e.find("dependency") != std::string::npos || e.find("cycle") != std::string::npos,
          "client: a dependency cycle is refused: " + e);

    fb::FlatBufferBuilder u;
    auto d = proto::to_wire(digest_bytes("honest!"));   // same size as the forged bytes
    (void)s.send(zmq::buffer(proto::finish(
                     u, wire::CreateBlobChunk(u, &d, 0, u.CreateVector(reinterpret_cast<const uint8_t*>("liar!!!"), 7)),
                     14)),
                 zmq::send_flags::none);
    e = await_error(s, 14);
    check(!e.empty() && e != "<timeout>", "client: an upload whose bytes do not match the digest is refused: " + e);

    fb::FlatBufferBuilder st;
    (void)s.send(zmq::buffer(proto::finish(st, wire::CreateStatusRequest(st), 15)), zmq::send_flags::none);
    e = await_error(s, 15);
    check(e.empty(), "client: the daemon still answers status after all that");
  }
  std::printf("%d failure(s)\n", failure_count());
  return failure_count() ? 1 : 0;
}
