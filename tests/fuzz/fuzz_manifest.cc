// libFuzzer target: header manifests (the client's and zbuild-cc's) and make-style dependency output (from the store and
// from a compiler's -M), and digests in text form.
#include <cstddef>
#include <cstdint>
#include <string>

#include "client/headers.h"
#include "common/make_deps.h"
#include "runner/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto m = zbuild::client::decode_manifest(text);
  if (m.ok()) {
    auto again = zbuild::client::decode_manifest(zbuild::client::encode_manifest(m.value()));
    if (!again.ok() || again.value() != m.value()) __builtin_trap();
  }
  auto r = zbuild::runner::decode_manifest(text);
  if (r.ok()) {
    auto again = zbuild::runner::decode_manifest(zbuild::runner::encode_manifest(r.value()));
    if (!again.ok() || again.value().size() != r.value().size()) __builtin_trap();
  }
  (void)zbuild::parse_make_deps(text);
  (void)zbuild::Digest::parse(text);
  return 0;
}
