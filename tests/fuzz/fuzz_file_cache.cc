// libFuzzer target: the include scanner's cache of lexed headers (scan/file_cache.h), files in
// the user's cache folder read as untrusted bytes. Every input is decoded as it is, and once
// more with its last 16 bytes replaced by the checksum of the rest, so the fuzzer reaches the
// fields behind the checksum. What decodes must encode back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/digest.h"
#include "scan/file_cache.h"

namespace {

void check(const std::string& bytes) {
  auto e = zbuild::scan::decode_file_entry(bytes);
  if (e && zbuild::scan::encode_file_entry(*e) != bytes) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  check(bytes);
  if (bytes.size() >= 16) {
    zbuild::Digest d = zbuild::digest_bytes(std::string_view(bytes).substr(0, bytes.size() - 16));
    for (int i = 0; i < 8; ++i) {
      bytes[bytes.size() - 16 + i] = static_cast<char>(d.hi >> (8 * i));
      bytes[bytes.size() - 8 + i] = static_cast<char>(d.lo >> (8 * i));
    }
    check(bytes);
  }
  return 0;
}
