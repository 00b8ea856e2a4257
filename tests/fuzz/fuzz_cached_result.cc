// libFuzzer target: an action-cache value read back from the store (RocksDB or a shared Redis
// another daemon wrote), checked the way the daemon checks it before use.
#include <cstddef>
#include <cstdint>

#include "proto/wire.h"

using namespace zbuild;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flatbuffers::Verifier v(data, size, 16, 100000);
  if (!v.VerifyBuffer<wire::CachedResult>(nullptr)) return 0;
  auto* c = flatbuffers::GetRoot<wire::CachedResult>(data);
  (void)proto::parse_outputs(c->outputs());
  (void)proto::bytes(c->stdout_data());
  (void)proto::str(c->worker());
  return 0;
}
