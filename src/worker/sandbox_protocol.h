// The slot sandbox protocol, version 1: how zbuild-worker (worker/slot_sandbox.cc) asks its
// resident helper zbuild-sandbox (worker/sandbox_helper.cc) to run one task. libc only: the
// helper includes it too.
//
// Transport: one AF_UNIX SOCK_SEQPACKET socketpair per slot; the helper's end is its fd
// argv[1]. One request at a time; the worker sends the next only after the reply.
//
// Request (worker -> helper):
//   datagram 1: RequestHead (16 bytes, host byte order) with exactly two fds in SCM_RIGHTS:
//               the write ends of the task's stdout and stderr pipes.
//   then body_len bytes of body, in datagrams of at most kMaxChunk bytes each.
//   body:  u64 timeout_ms (0: none), u64 memory_limit_bytes (0: none), u32 argc, u32 envc,
//          then strings: folder, mount_at, cwd, argv[argc], env[envc];
//          string = u32 length, length bytes (no NUL among them), one NUL byte.
//   folder: the task's folder, one name in the slot's area (/.zbuild/slot/<folder>);
//   mount_at: absolute path where the task sees it; cwd: absolute path inside the sandbox.
// Reply (helper -> worker): one datagram, a Reply (64 bytes):
//   flags 0: the task ran; wait_status is its main process's waitpid status.
//   kTimedOut: killed (with all of its processes) at timeout_ms.
//   kSetupFailed: the sandbox could not be made; `step` names the failed step, err_no the errno.
//   kExecFailed: the program could not be started (err_no); the task fails, not the worker.
// The helper checks every byte and bound below; a malformed request ends the helper (the
// worker starts a new one).
#pragma once

#include <cstdint>
#include <cstring>

namespace zbuild::sandbox_protocol {

constexpr uint32_t kMagic = 0x5842535au;   // "ZSBX"
constexpr uint16_t kVersion = 1;
constexpr uint16_t kKindRun = 1;
constexpr uint16_t kKindReply = 2;
constexpr uint32_t kMaxBody = 8u << 20;       // whole request body
constexpr uint32_t kMaxChunk = 64u << 10;     // body bytes per datagram
constexpr uint32_t kMaxString = 1u << 20;     // one string
constexpr uint32_t kMaxArgs = 1u << 16;
constexpr uint32_t kMaxEnv = 4096;
constexpr uint32_t kMaxPath = 4000;           // folder, mount_at, cwd

constexpr uint32_t kTimedOut = 1;
constexpr uint32_t kSetupFailed = 2;
constexpr uint32_t kExecFailed = 4;

struct RequestHead {
  uint32_t magic;
  uint16_t version;
  uint16_t kind;
  uint32_t body_len;
  uint32_t reserved;   // 0
};
static_assert(sizeof(RequestHead) == 16);

struct Reply {
  uint32_t magic;
  uint16_t version;
  uint16_t kind;
  int32_t wait_status;
  int32_t err_no;
  uint32_t flags;
  uint32_t reserved;   // 0
  char step[40];       // NUL-terminated
};
static_assert(sizeof(Reply) == 64);

// A parsed body: pointers into the body buffer (which must outlive it). argv and env point to
// caller-provided arrays of argv_cap and env_cap entries, each list ending with nullptr.
struct Request {
  uint64_t timeout_ms = 0;
  uint64_t memory_limit_bytes = 0;
  const char* folder = nullptr;
  const char* mount_at = nullptr;
  const char* cwd = nullptr;
  uint32_t argc = 0, envc = 0;
  char** argv = nullptr;
  char** env = nullptr;
};

namespace detail {
inline bool take_u32(const uint8_t* b, uint32_t n, uint32_t* off, uint32_t* v) {
  if (n - *off < 4) return false;
  std::memcpy(v, b + *off, 4);
  *off += 4;
  return true;
}
inline bool take_u64(const uint8_t* b, uint32_t n, uint32_t* off, uint64_t* v) {
  if (n - *off < 8) return false;
  std::memcpy(v, b + *off, 8);
  *off += 8;
  return true;
}
inline bool take_str(uint8_t* b, uint32_t n, uint32_t* off, uint32_t max, char** s) {
  uint32_t len = 0;
  if (!take_u32(b, n, off, &len) || len > max || n - *off < len + 1u) return false;
  char* p = reinterpret_cast<char*>(b + *off);
  if (p[len] != '\0' || std::memchr(p, '\0', len) != nullptr) return false;
  *s = p;
  *off += len + 1;
  return true;
}
// An absolute path with no empty, "." or ".." component (and not "/" itself).
inline bool clean_absolute(const char* p) {
  if (p[0] != '/' || p[1] == '\0') return false;
  for (const char* c = p; *c;) {
    if (*c != '/') return false;
    const char* e = c + 1;
    while (*e && *e != '/') ++e;
    size_t len = static_cast<size_t>(e - c - 1);
    if (len == 0 || (len == 1 && c[1] == '.') || (len == 2 && c[1] == '.' && c[2] == '.')) return false;
    c = e;
  }
  return true;
}
}  // namespace detail

// Checks and parses `body` (n bytes); false when anything is out of bounds or malformed.
inline bool parse_request(uint8_t* body, uint32_t n, Request* r, char** argv_store, uint32_t argv_cap,
                          char** env_store, uint32_t env_cap) {
  using namespace detail;
  uint32_t off = 0;
  if (n > kMaxBody) return false;
  if (!take_u64(body, n, &off, &r->timeout_ms) || !take_u64(body, n, &off, &r->memory_limit_bytes) ||
      !take_u32(body, n, &off, &r->argc) || !take_u32(body, n, &off, &r->envc)) {
    return false;
  }
  if (r->argc == 0 || r->argc > kMaxArgs || r->argc >= argv_cap || r->envc > kMaxEnv || r->envc >= env_cap) return false;
  char *folder, *mount_at, *cwd;
  if (!take_str(body, n, &off, kMaxPath, &folder) || !take_str(body, n, &off, kMaxPath, &mount_at) ||
      !take_str(body, n, &off, kMaxPath, &cwd)) {
    return false;
  }
  // The folder is one name: no way out of the slot's area.
  if (folder[0] == '\0' || std::strchr(folder, '/') || !std::strcmp(folder, ".") || !std::strcmp(folder, "..")) return false;
  if (!clean_absolute(mount_at) || (!clean_absolute(cwd) && std::strcmp(cwd, "/") != 0)) return false;
  for (uint32_t i = 0; i < r->argc; ++i) {
    if (!take_str(body, n, &off, kMaxString, &argv_store[i])) return false;
  }
  argv_store[r->argc] = nullptr;
  if (argv_store[0][0] == '\0') return false;
  for (uint32_t i = 0; i < r->envc; ++i) {
    if (!take_str(body, n, &off, kMaxString, &env_store[i]) || !std::strchr(env_store[i], '=')) return false;
  }
  env_store[r->envc] = nullptr;
  if (off != n) return false;   // nothing trailing
  r->folder = folder;
  r->mount_at = mount_at;
  r->cwd = cwd;
  r->argv = argv_store;
  r->env = env_store;
  return true;
}

}  // namespace zbuild::sandbox_protocol
