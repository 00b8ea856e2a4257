#include "worker/slot_sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/log.h"
#include "common/subprocess.h"
#include "worker/sandbox_protocol.h"

namespace zbuild::worker {

namespace fs = std::filesystem;
namespace sp = sandbox_protocol;

namespace {

constexpr int kHelperFd = 3;                 // the helper's end of the socket, in the helper
constexpr int64_t kAnswerGraceMs = 10000;    // a helper silent this long past the timeout is killed
constexpr int64_t kStartTimeoutMs = 10000;   // the probe task at start
constexpr int kStopGraceMs = 2000;           // an idle helper told to stop exits within this

std::string errno_text(const std::string& what, int e) { return what + ": " + std::strerror(e); }

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void put_u32(std::string& b, uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& b, uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& b, const std::string& s) {
  put_u32(b, static_cast<uint32_t>(s.size()));
  b.append(s);
  b.push_back('\0');
}

// Why `t` cannot go to the helper as it is (the limits of sandbox_protocol.h); empty when it can.
std::string unsendable(const SandboxTask& t) {
  auto bad_str = [](const std::string& s, size_t max) { return s.size() > max || s.find('\0') != std::string::npos; };
  if (t.argv.empty() || t.argv[0].empty()) return "empty command";
  if (t.argv.size() > sp::kMaxArgs || t.env.size() > sp::kMaxEnv) return "too many arguments or environment variables";
  for (auto& s : t.argv) {
    if (bad_str(s, sp::kMaxString)) return "an argument is too long or contains a NUL byte";
  }
  for (auto& s : t.env) {
    if (bad_str(s, sp::kMaxString) || s.find('=') == std::string::npos) return "malformed environment variable";
  }
  if (t.folder.empty() || t.folder.find('/') != std::string::npos || t.folder == "." || t.folder == ".." ||
      bad_str(t.folder, sp::kMaxPath)) {
    return "bad task folder name";
  }
  if (bad_str(t.mount_at, sp::kMaxPath) || !sp::detail::clean_absolute(t.mount_at.c_str())) {
    return "the task's folder path '" + t.mount_at + "' is not a clean absolute path";
  }
  if (bad_str(t.cwd, sp::kMaxPath) || (t.cwd != "/" && !sp::detail::clean_absolute(t.cwd.c_str()))) {
    return "the task's working folder '" + t.cwd + "' is not a clean absolute path";
  }
  return {};
}

}  // namespace

std::vector<std::string> bwrap_system_binds(const fs::path& toolchain_root) {
  if (toolchain_root.empty()) {
    return {"--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
            "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--ro-bind-try", "/opt", "/opt"};
  }
  std::vector<std::string> b;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(toolchain_root, ec)) {
    std::string top = "/" + e.path().filename().string();
    if (e.is_symlink(ec)) b.insert(b.end(), {"--symlink", fs::read_symlink(e.path(), ec).string(), top});
    else b.insert(b.end(), {"--ro-bind", e.path().string(), top});
  }
  return b;
}

std::string encode_request_body(const SandboxTask& t) {
  std::string b;
  size_t n = 64 + t.folder.size() + t.mount_at.size() + t.cwd.size();
  for (auto& s : t.argv) n += s.size() + 5;
  for (auto& s : t.env) n += s.size() + 5;
  b.reserve(n);
  put_u64(b, t.timeout_ms > 0 ? static_cast<uint64_t>(t.timeout_ms) : 0);
  put_u64(b, t.memory_limit_mb > 0 ? static_cast<uint64_t>(t.memory_limit_mb) << 20 : 0);
  put_u32(b, static_cast<uint32_t>(t.argv.size()));
  put_u32(b, static_cast<uint32_t>(t.env.size()));
  put_str(b, t.folder);
  put_str(b, t.mount_at);
  put_str(b, t.cwd);
  for (auto& s : t.argv) put_str(b, s);
  for (auto& s : t.env) put_str(b, s);
  return b;
}

std::string find_sandbox_helper() {
  std::string p = sibling_program("zbuild-sandbox");
  return p.find('/') == std::string::npos ? std::string() : p;
}

Result<std::unique_ptr<SlotSandbox>> SlotSandbox::start(const Config& c) {
  if (c.bwrap.empty()) return make_error("bubblewrap not found");
  if (c.helper.empty() || ::access(c.helper.c_str(), X_OK) != 0) {
    return make_error("the sandbox helper zbuild-sandbox was not found beside zbuild-worker");
  }
  std::unique_ptr<SlotSandbox> s(new SlotSandbox(c));
  std::error_code ec;
  fs::create_directories(c.area, ec);
  if (ec) return make_error("sandbox area " + c.area.string() + ": " + ec.message());
  ZB_TRY(s->launch());
  // A probe: the whole path (namespaces, mounts, capabilities, exec) works here, or nothing runs.
  SandboxTask probe;
  probe.folder = ".probe";
  probe.mount_at = "/probe";
  probe.cwd = "/probe";
  probe.argv = {"true"};
  probe.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  probe.timeout_ms = kStartTimeoutMs;
  fs::create_directories(c.area / probe.folder, ec);
  auto r = s->run(probe);
  fs::remove_all(c.area / probe.folder, ec);
  if (!r.ok()) return make_error("the slot sandbox cannot run a task here: " + r.error().message);
  if (r.value().exit_code != 0 || r.value().timed_out) {
    return make_error("the slot sandbox's probe task failed (exit " + std::to_string(r.value().exit_code) + "): " +
                      r.value().err);
  }
  return s;
}

SlotSandbox::~SlotSandbox() { stop(); }

void SlotSandbox::stop() {
  if (sock_ >= 0) ::close(sock_);   // the helper sees the end of its stream and exits, and so does bubblewrap
  sock_ = -1;
  if (pid_ > 0) watch_.ended(pid_);
  if (pid_ > 0) {
    // A short grace (the helper exits at once when idle), then bubblewrap's group is killed;
    // --die-with-parent takes the sandbox along.
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    pollfd p{pidfd, POLLIN, 0};
    if (pidfd < 0 || ::poll(&p, 1, kStopGraceMs) != 1) ::kill(-pid_, SIGKILL);
    if (pidfd >= 0) ::close(pidfd);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

Status SlotSandbox::launch() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return make_error(errno_text("socketpair", errno));
  Fd mine(sv[0]);
  // Kept above kHelperFd so that dup2 onto kHelperFd always happens (and clears close-on-exec
  // in the child only: other slots starting processes meanwhile never inherit it).
  Fd theirs(::fcntl(sv[1], F_DUPFD_CLOEXEC, 10));
  ::close(sv[1]);
  if (theirs.fd < 0) return make_error(errno_text("fcntl", errno));

  // --as-pid-1: the helper is its PID namespace's init (it reaps and kills what each task leaves).
  std::vector<std::string> args = {c_.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1"};
  auto sys = bwrap_system_binds({});
  args.insert(args.end(), sys.begin(), sys.end());
  args.insert(args.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/.zbuild",
                           "--bind", c_.area.string(), "/.zbuild/slot",
                           "--ro-bind", c_.helper, "/.zbuild/zbuild-sandbox",
                           // The helper mounts and makes namespaces; each task drops them all.
                           "--cap-add", "ALL", "--clearenv", "--",
                           "/.zbuild/zbuild-sandbox", std::to_string(kHelperFd)});
  auto pid = spawn_with_fd(args, {"PATH=/usr/local/bin:/usr/bin:/bin"}, theirs.fd, kHelperFd);
  if (!pid.ok()) return pid.error();
  sock_ = mine.fd;
  mine.fd = -1;
  pid_ = pid.value();
  if (!watch_.started(pid_)) ::kill(-pid_, SIGKILL);   // aborted: the task sent to it fails
  return {};
}

Result<ProcessResult> SlotSandbox::run(const SandboxTask& t) {
  if (watch_.cancelled()) return make_error("the worker is stopping");
  if (pid_ > 0) {
    int st = 0;
    watch_.ended(pid_);   // the group is not abort()'s to kill while it may be reaped
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      log::warn("slot sandbox " + c_.area.string() + ": helper ended (status " + std::to_string(st) + "); starting it again");
      pid_ = -1;
      stop();
    } else if (!watch_.started(pid_)) {
      ::kill(-pid_, SIGKILL);
    }
  }
  if (pid_ <= 0) {
    if (auto st = launch(); !st.ok()) return make_error("sandbox helper could not be started again: " + st.error().message);
    ++restarts_;
  }
  if (std::string why = unsendable(t); !why.empty()) {   // refused here: the helper would end on it
    ProcessResult res;
    res.exit_code = 126;
    res.err = "zbuild-worker: " + why + "\n";
    return res;
  }
  // A helper that misbehaves is not trusted with the next task: stopped, started again then.
  auto broken = [&](const std::string& why) -> Result<ProcessResult> {
    stop();
    return make_error("sandbox helper: " + why);
  };

  int po[2], pe[2];
  if (::pipe2(po, O_CLOEXEC) != 0) return make_error(errno_text("pipe", errno));
  Fd out_r(po[0]), out_w(po[1]);
  if (::pipe2(pe, O_CLOEXEC) != 0) return make_error(errno_text("pipe", errno));
  Fd err_r(pe[0]), err_w(pe[1]);

  std::string body = encode_request_body(t);
  if (body.size() > sp::kMaxBody) return make_error("the task's command line and environment are too large");
  sp::RequestHead head{sp::kMagic, sp::kVersion, sp::kKindRun, static_cast<uint32_t>(body.size()), 0};
  iovec iov{&head, sizeof head};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 2)] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * 2);
  int fds[2] = {out_w.fd, err_w.fd};
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  int64_t start = mono_ms();
  if (::sendmsg(sock_, &m, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof head)) return broken(errno_text("send", errno));
  for (size_t off = 0; off < body.size(); off += sp::kMaxChunk) {
    size_t len = std::min<size_t>(sp::kMaxChunk, body.size() - off);
    if (::send(sock_, body.data() + off, len, MSG_NOSIGNAL) != static_cast<ssize_t>(len)) return broken(errno_text("send", errno));
  }
  out_w.reset();
  err_w.reset();

  ProcessResult res;
  sp::Reply reply{};
  bool replied = false;
  int64_t deadline = t.timeout_ms > 0 ? start + t.timeout_ms + kAnswerGraceMs : 0;
  int64_t due_at = due_time(t.due, start);
  char buf[65536];
  // Blocking reads: one per readiness while the task runs (poll said there is data or an end),
  // to the end once the helper answered (every writer is gone then: it cannot block).
  auto drain = [&](Fd& fd, std::string& dst, bool to_end) {
    for (;;) {
      ssize_t r = ::read(fd.fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r > 0) {
        if (dst.size() < t.output_cap) dst.append(buf, std::min<size_t>(static_cast<size_t>(r), t.output_cap - dst.size()));
        if (to_end) continue;
        return;
      }
      fd.reset();   // every writer gone (or the pipe failed)
      return;
    }
  };
  while (!replied || out_r.fd >= 0 || err_r.fd >= 0) {
    if (replied) {   // the task's processes are all gone: what is in the pipes is all there is
      if (out_r.fd >= 0) drain(out_r, res.out, true);
      if (err_r.fd >= 0) drain(err_r, res.err, true);
      break;
    }
    pollfd p[3] = {{sock_, POLLIN, 0}, {out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};
    int pr = ::poll(p, 3, poll_timeout(deadline, due_at));
    call_if_due(t.due, due_at);
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) return broken(errno_text("poll", errno));
    if (pr == 0 && deadline && mono_ms() >= deadline) {
      return broken("no answer " + std::to_string(kAnswerGraceMs / 1000) + " s past the task's timeout; helper killed");
    }
    if (p[1].revents) drain(out_r, res.out, false);
    if (p[2].revents) drain(err_r, res.err, false);
    if (p[0].revents & POLLIN) {
      ssize_t n = ::recv(sock_, &reply, sizeof reply, MSG_TRUNC | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n == 0) return broken("it ended while running the task");
      if (n != static_cast<ssize_t>(sizeof reply) || reply.magic != sp::kMagic || reply.version != sp::kVersion ||
          reply.kind != sp::kKindReply) {
        return broken("malformed reply");
      }
      replied = true;
    } else if (p[0].revents & (POLLHUP | POLLERR)) {
      return broken("it ended while running the task");
    }
  }
  res.duration_ms = mono_ms() - start;
  reply.step[sizeof reply.step - 1] = '\0';
  if (reply.flags & sp::kTimedOut) {
    res.timed_out = true;
  } else if (reply.flags & sp::kSetupFailed) {
    return make_error(std::string("sandbox setup failed (") + reply.step + "): " + std::strerror(reply.err_no));
  } else if (reply.flags & sp::kExecFailed) {
    res.exit_code = 127;
    res.err += "zbuild-sandbox: cannot run '" + t.argv[0] + "': " + std::strerror(reply.err_no) + "\n";
  } else if (WIFEXITED(reply.wait_status)) {
    res.exit_code = WEXITSTATUS(reply.wait_status);
  } else if (WIFSIGNALED(reply.wait_status)) {
    res.exit_code = 128 + WTERMSIG(reply.wait_status);
  }
  return res;
}

}  // namespace zbuild::worker
