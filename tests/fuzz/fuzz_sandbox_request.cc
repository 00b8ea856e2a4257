// libFuzzer target: the slot sandbox helper's request body (worker/sandbox_protocol.h), which
// zbuild-sandbox parses with its capabilities: accepted bodies are fully bounded and terminated.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "worker/sandbox_protocol.h"

namespace sp = zbuild::sandbox_protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > sp::kMaxBody) return 0;
  std::vector<uint8_t> body(data, data + size);
  std::vector<char*> argv(64), env(64);
  sp::Request r;
  if (!sp::parse_request(body.data(), static_cast<uint32_t>(size), &r, argv.data(), 64, env.data(), 64)) return 0;
  const char* lo = reinterpret_cast<const char*>(body.data());
  const char* hi = lo + size;
  auto inside = [&](const char* s) { return s >= lo && s < hi && std::memchr(s, '\0', static_cast<size_t>(hi - s)); };
  if (r.argc == 0 || r.argc >= 64 || r.envc >= 64 || r.argv[r.argc] || r.env[r.envc]) __builtin_trap();
  if (!inside(r.folder) || !inside(r.mount_at) || !inside(r.cwd)) __builtin_trap();
  if (std::strchr(r.folder, '/') || !std::strcmp(r.folder, "..") || r.mount_at[0] != '/') __builtin_trap();
  for (const char* c = r.mount_at; (c = std::strstr(c, "/..")) != nullptr; ++c) {   // no ".." component
    if (c[3] == '/' || c[3] == '\0') __builtin_trap();
  }
  for (uint32_t i = 0; i < r.argc; ++i) {
    if (!inside(r.argv[i])) __builtin_trap();
  }
  for (uint32_t i = 0; i < r.envc; ++i) {
    if (!inside(r.env[i]) || !std::strchr(r.env[i], '=')) __builtin_trap();
  }
  return 0;
}
