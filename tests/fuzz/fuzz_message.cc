// libFuzzer target: every wire message a daemon, worker or client decodes from a peer —
// decode() (cap, Verifier, version), then the same field walks the receivers do: actions
// (TaskAssign, SubmitBuild), outputs (TaskResult, TaskEvent), chunks, digests, manifests.
// Every input is decoded twice: where libFuzzer put it (aligned) and one byte further on, as
// ZeroMQ may hand a frame over, so decode() must realign it before anything reads a field.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "proto/wire.h"

using namespace zbuild;

namespace {

void walk(const uint8_t* data, size_t size) {
  auto env = proto::decode(data, size, proto::kMaxClientMessage);
  if (!env.ok()) return;
  const wire::Envelope* e = env.value().get();
  switch (e->body_type()) {
    case wire::Body::TaskAssign: (void)proto::parse_action(e->body_as_TaskAssign()->action()); break;
    case wire::Body::SubmitBuild:
      if (auto* ts = e->body_as_SubmitBuild()->tasks()) {
        for (auto* t : *ts) {
          if (t) (void)proto::parse_action(t->action());
        }
      }
      break;
    case wire::Body::TaskResult: {
      auto* r = e->body_as_TaskResult();
      (void)proto::parse_outputs(r->outputs());
      (void)proto::bytes(r->stdout_data());
      (void)proto::str(r->infra_error());
      break;
    }
    case wire::Body::TaskEvent: (void)proto::parse_outputs(e->body_as_TaskEvent()->outputs()); break;
    case wire::Body::BlobChunk: {
      auto* c = e->body_as_BlobChunk();
      (void)proto::from_wire(c->digest());
      (void)proto::bytes(c->data());
      break;
    }
    case wire::Body::BlobRequest:
      if (auto* items = e->body_as_BlobRequest()->items()) {
        for (auto* it : *items) (void)proto::from_wire(&it->digest());
      }
      break;
    case wire::Body::FindMissing:
      if (auto* ds = e->body_as_FindMissing()->digests()) {
        for (auto* d : *ds) (void)proto::from_wire(d);
      }
      break;
    case wire::Body::MissingBlobs:
      if (auto* ds = e->body_as_MissingBlobs()->digests()) {
        for (auto* d : *ds) (void)proto::from_wire(d);
      }
      break;
    case wire::Body::PutManifests:
      if (auto* es = e->body_as_PutManifests()->entries()) {
        for (auto* m : *es) {
          if (m) (void)proto::bytes(m->value());
        }
      }
      break;
    case wire::Body::Hello: (void)proto::str(e->body_as_Hello()->worker_id()); break;
    default: break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  walk(data, size);
  // The same bytes at an odd address, ending where the allocation ends (ASan still sees an over-read).
  auto shifted = std::make_unique<uint8_t[]>(size + 1);
  if (size) std::memcpy(shifted.get() + 1, data, size);
  walk(shifted.get() + 1, size);
  return 0;
}
