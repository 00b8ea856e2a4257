#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/clock.h"

extern char** environ;

namespace zbuild {

namespace {

struct Pipe {
  int r = -1, w = -1;
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};
}  // namespace

namespace {
// `v` as the NULL-ended array exec takes, pointing into `v`.
std::vector<char*> exec_array(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// What every process zbuild starts gets: its own process group (the caller may signal the
// group), an empty signal mask and default handling of the signals zbuild itself catches.
struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() {
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defs;
    sigemptyset(&defs);
    sigaddset(&defs, SIGPIPE);
    sigaddset(&defs, SIGINT);
    sigaddset(&defs, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &defs);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};
}  // namespace

Result<int> spawn_with_fd(const std::vector<std::string>& args, const std::vector<std::string>& env, int pass_fd,
                          int as_fd) {
  if (args.empty()) return make_error("spawn_with_fd: empty argv");
  std::vector<char*> argv = exec_array(args), envp = exec_array(env);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pass_fd, as_fd);
  SpawnAttr attr;
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0].c_str(), &fa, &attr.attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return make_error(args[0] + ": cannot run: " + std::strerror(rc));
  return static_cast<int>(pid);
}

namespace {

// A command started with what posix_spawn cannot give: an address-space limit (or, for
// ProcessSpec::ends_with_main, without waiting for its exec). The child shares the caller's
// memory until it execs (CLONE_VM, as glibc's posix_spawn does, so no page tables are copied)
// and makes only system calls; all signals stay blocked in it until its handlers are back to
// default.
struct LimitedChild {
  const char* path;
  char** argv;
  char** envp;
  const char* cwd;
  int out, err;
  uint64_t as_limit;
  int err_no = 0;
};

int limited_child_main(void* p) {
  auto* c = static_cast<LimitedChild*>(p);
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (::sigaction(sig, nullptr, &sa) != 0) continue;
    bool reset = sig == SIGPIPE || sig == SIGINT || sig == SIGTERM || (sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL);
    if (!reset) continue;
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = 0;
    ::sigaction(sig, &sa, nullptr);
  }
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  rlimit lim{c->as_limit, c->as_limit};
  if (::setpgid(0, 0) != 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(c->out, 1) < 0 || ::dup2(c->err, 2) < 0 ||
      (c->cwd && ::chdir(c->cwd) != 0) || (c->as_limit > 0 && ::setrlimit(RLIMIT_AS, &lim) != 0)) {
    c->err_no = errno;
    ::_exit(127);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(c->path, c->argv, c->envp);
  c->err_no = errno;
  ::_exit(127);
}

// The first executable regular file named `name` in the folders of `path_var` (not the one whose
// real path is `skip_realpath`); `name` itself when it names a path. Empty when there is none.
std::string search_path(const std::string& name, const std::string& path_var, const std::string& skip_realpath);

// What a command's first process reads until it has exec'd: it shares this process's memory
// until then, so the caller keeps this until the exec (clone_command with CLONE_VFORK returns
// after it) or until the command has been reaped (without).
struct Launch {
  std::vector<char*> argv, envp;   // when the caller's own are not used
  std::string path;
  LimitedChild child{};
};

constexpr size_t kLaunchStack = 64 * 1024;
// The first process's stack until it execs: one command at a time per thread is in that state
// (a command started without waiting for its exec is reaped before the thread starts another).
thread_local std::unique_ptr<char[]> t_launch_stack;

// Finds the program in the command's own PATH and clones limited_child_main, all signals
// blocked here around the clone (`flags`: CLONE_VM, with or without CLONE_VFORK).
Result<pid_t> clone_command(const ProcessSpec& spec, char** argv, char** envp, int out, int err, int flags, Launch& l) {
  std::string path_var = "/usr/local/bin:/usr/bin:/bin";
  for (char** e = envp; *e; ++e) {
    if (!std::strncmp(*e, "PATH=", 5)) path_var = *e + 5;
  }
  l.path = search_path(spec.argv[0], path_var, "");
  if (l.path.empty()) return make_error(spec.argv[0] + ": cannot run: " + std::strerror(ENOENT));
  l.child = LimitedChild{l.path.c_str(), argv, envp, spec.cwd.empty() ? nullptr : spec.cwd.c_str(), out, err,
                         spec.address_space_limit};
  if (!t_launch_stack) t_launch_stack = std::make_unique<char[]>(kLaunchStack);
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::clone(limited_child_main, t_launch_stack.get() + kLaunchStack, flags | SIGCHLD, &l.child);
  int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return make_error(spec.argv[0] + ": cannot run: " + std::strerror(clone_errno));
  return pid;
}

Result<pid_t> spawn_limited(const ProcessSpec& spec, char** argv, char** envp, int out, int err) {
  Launch l;
  auto pid = clone_command(spec, argv, envp, out, err, CLONE_VM | CLONE_VFORK, l);
  if (!pid.ok()) return pid;
  if (l.child.err_no != 0) {   // it never ran: reaped here
    while (::waitpid(pid.value(), nullptr, 0) < 0 && errno == EINTR) {
    }
    return make_error(spec.argv[0] + ": cannot run: " + std::strerror(l.child.err_no));
  }
  return pid;
}

}  // namespace

void ProcessWatch::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  for (int g : groups_) ::kill(-g, SIGKILL);
}

bool ProcessWatch::cancelled() {
  std::lock_guard lock(mu_);
  return cancelled_;
}

bool ProcessWatch::started(int pgid) {
  std::lock_guard lock(mu_);
  if (cancelled_) return false;
  groups_.push_back(pgid);
  return true;
}

void ProcessWatch::ended(int pgid) {
  std::lock_guard lock(mu_);
  std::erase(groups_, pgid);
}

namespace {

// Starts spec.argv with its stdout on `out` and its stderr on `err` (stdin /dev/null), in its
// own process group.
Result<pid_t> start_command(const ProcessSpec& spec, int out, int err) {
  std::vector<char*> argv = exec_array(spec.argv), envp;
  if (spec.use_env) envp = exec_array(spec.env);
  if (spec.address_space_limit > 0) return spawn_limited(spec, argv.data(), spec.use_env ? envp.data() : environ, out, err);
  // Built only here: each file action asks the kernel for the descriptor limit.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
  SpawnAttr attr;
  pid_t pid = -1;
  // posix_spawnp searches PATH of *our* environment; resolve against the child's PATH when given.
  int rc = ::posix_spawnp(&pid, spec.argv[0].c_str(), &fa, &attr.attr, argv.data(), spec.use_env ? envp.data() : environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return make_error(spec.argv[0] + ": cannot run: " + std::strerror(rc));
  return pid;
}

void keep(std::string& dst, const char* data, size_t n, size_t cap) {
  if (dst.size() < cap) dst.append(data, std::min(n, cap - dst.size()));
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// ProcessSpec::ends_with_main: the calling thread's output pipes, kept from one command to the
// next. This side holds both ends (so they never report an end of their own), reads without
// blocking, and learns of the command's end from a pidfd.
struct ThreadPipes {
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  ~ThreadPipes() { close_all(); }
  void close_all() {
    for (int* fd : {&out[0], &out[1], &err[0], &err[1]}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
  }
  bool ready() {
    if (out[0] >= 0) return true;
    if (::pipe2(out, O_CLOEXEC) == 0 && ::pipe2(err, O_CLOEXEC) == 0 && ::fcntl(out[0], F_SETFL, O_NONBLOCK) == 0 &&
        ::fcntl(err[0], F_SETFL, O_NONBLOCK) == 0) {
      return true;
    }
    close_all();   // tried again next time (a full descriptor table may have room then)
    return false;
  }
};
thread_local ThreadPipes t_pipes;

int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Linux 5.3 and later (pidfd_open); asked once.
bool have_pidfd() {
  static const bool have = [] {
    int fd = open_pidfd(::getpid());
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }();
  return have;
}

// Reads what the non-blocking `fd` holds now; true when it gave anything.
bool drain(int fd, std::string* dst, size_t cap) {
  char buf[65536];
  bool any = false;
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return any;
    any = true;
    if (dst) keep(*dst, buf, static_cast<size_t>(r), cap);
  }
}

// What a previous command's escaped process (one that left its process group) wrote since
// that command ended is not this command's output.
void discard_stale(const ThreadPipes& tp) {
  pollfd fds[2] = {{tp.out[0], POLLIN, 0}, {tp.err[0], POLLIN, 0}};
  if (::poll(fds, 2, 0) <= 0) return;
  for (auto& f : fds) {
    if (f.revents & POLLIN) drain(f.fd, nullptr, 0);
  }
}

// Starts the command without waiting for its exec (CLONE_VM without CLONE_VFORK): the thread
// goes on to wait for its end at once, one sleep per command instead of two (the exec's and the
// end's). The process group is made from this side too, so that a signal sent to it right away
// reaches the command. An exec that fails shows in l.child.err_no once the child is reaped.
Result<pid_t> start_beside(const ProcessSpec& spec, int out, int err, Launch& l) {
  l.argv = exec_array(spec.argv);
  char** envp = environ;
  if (spec.use_env) {
    l.envp = exec_array(spec.env);
    envp = l.envp.data();
  }
  auto pid = clone_command(spec, l.argv.data(), envp, out, err, CLONE_VM, l);
  if (pid.ok()) ::setpgid(pid.value(), pid.value());   // EACCES once it has exec'd: it made the group itself then
  return pid;
}

Result<ProcessResult> run_ending_with_main(const ProcessSpec& spec, ThreadPipes& tp) {
  discard_stale(tp);
  int64_t start = mono_ms();
  Launch launch;
  auto started = start_beside(spec, tp.out[1], tp.err[1], launch);
  if (!started.ok()) return started.error();
  pid_t pid = started.value();
  if (spec.watch && !spec.watch->started(pid)) ::kill(-pid, SIGKILL);   // cancelled before it started
  ProcessResult res;
  int pidfd = open_pidfd(pid);
  if (pidfd < 0) {   // no way to learn of its end without blocking: it does not run on unwatched
    int e = errno;
    ::kill(-pid, SIGKILL);
    if (spec.watch) spec.watch->ended(pid);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return make_error(spec.argv[0] + ": cannot watch the started command (pidfd_open: " + std::strerror(e) + ")");
  }
  int64_t deadline = spec.timeout_ms > 0 ? start + spec.timeout_ms : 0;
  int64_t due_at = due_time(spec.due, start);
  for (;;) {
    pollfd fds[3] = {{pidfd, POLLIN, 0}, {tp.out[0], POLLIN, 0}, {tp.err[0], POLLIN, 0}};
    int pr = ::poll(fds, 3, res.timed_out ? -1 : poll_timeout(deadline, due_at));
    call_if_due(spec.due, due_at);
    // Any failure is an interruption here (the child shares this thread's errno until it execs).
    if (pr < 0) continue;
    if (pr == 0 && deadline && !res.timed_out && mono_ms() >= deadline) {
      res.timed_out = true;
      ::kill(-pid, SIGKILL);
      continue;
    }
    if (fds[1].revents & POLLIN) drain(tp.out[0], &res.out, spec.output_cap);
    if (fds[2].revents & POLLIN) drain(tp.err[0], &res.err, spec.output_cap);
    if (fds[0].revents) break;
  }
  ::close(pidfd);
  int status = 0;
  if (spec.watch) spec.watch->ended(pid);   // before the reap: the group id stays ours until then
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // Whatever the command left behind in its process group goes too; what it wrote before is kept.
  ::kill(-pid, SIGKILL);
  if (launch.child.err_no != 0) {   // its exec failed: it never ran
    return make_error(spec.argv[0] + ": cannot run: " + std::strerror(launch.child.err_no));
  }
  pollfd rest[2] = {{tp.out[0], POLLIN, 0}, {tp.err[0], POLLIN, 0}};
  if (::poll(rest, 2, 0) > 0) {
    if (rest[0].revents & POLLIN) drain(tp.out[0], &res.out, spec.output_cap);
    if (rest[1].revents & POLLIN) drain(tp.err[0], &res.err, spec.output_cap);
  }
  res.duration_ms = mono_ms() - start;
  res.exit_code = exit_code_of(status);
  return res;
}

}  // namespace

Result<ProcessResult> run_process(const ProcessSpec& spec) {
  if (spec.argv.empty()) return make_error("run_process: empty argv");
  if (spec.ends_with_main && have_pidfd() && t_pipes.ready()) return run_ending_with_main(spec, t_pipes);
  Pipe po, pe;
  int a[2], b[2];
  if (::pipe2(a, O_CLOEXEC) != 0 || ::pipe2(b, O_CLOEXEC) != 0) {
    return make_error(std::string("pipe: ") + std::strerror(errno));
  }
  po.r = a[0]; po.w = a[1]; pe.r = b[0]; pe.w = b[1];
  int64_t start = mono_ms();
  auto started = start_command(spec, po.w, pe.w);
  if (!started.ok()) return started.error();
  pid_t pid = started.value();
  ::close(po.w); po.w = -1;
  ::close(pe.w); pe.w = -1;
  if (spec.watch && !spec.watch->started(pid)) ::kill(-pid, SIGKILL);   // cancelled before it started

  ProcessResult res;
  int64_t deadline = spec.timeout_ms > 0 ? start + spec.timeout_ms : 0;
  int64_t due_at = due_time(spec.due, start);
  bool open_o = true, open_e = true;
  char buf[65536];
  while (open_o || open_e) {
    pollfd fds[2];
    int n = 0;
    if (open_o) fds[n++] = {po.r, POLLIN, 0};
    if (open_e) fds[n++] = {pe.r, POLLIN, 0};
    int pr = ::poll(fds, static_cast<nfds_t>(n), poll_timeout(deadline, due_at));
    call_if_due(spec.due, due_at);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0 && deadline && mono_ms() >= deadline) {
      res.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      bool is_out = fds[i].fd == po.r;
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        (is_out ? open_o : open_e) = false;
        continue;
      }
      keep(is_out ? res.out : res.err, buf, static_cast<size_t>(r), spec.output_cap);
    }
  }
  int status = 0;
  if (spec.watch) spec.watch->ended(pid);   // before the reap: the group id stays ours until then
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // Whatever the command left behind in its process group goes too.
  ::kill(-pid, SIGKILL);
  res.duration_ms = mono_ms() - start;
  res.exit_code = exit_code_of(status);
  return res;
}

int64_t due_time(const DueCall* due, int64_t start_ms) {
  return due && due->after_ms >= 0 && due->call ? start_ms + std::max<int64_t>(1, due->after_ms) : 0;
}

int poll_timeout(int64_t deadline_ms, int64_t due_at) {
  int64_t until = deadline_ms;
  if (due_at && (!until || due_at < until)) until = due_at;
  return until ? static_cast<int>(std::max<int64_t>(0, until - mono_ms())) : -1;
}

void call_if_due(const DueCall* due, int64_t& due_at) {
  if (!due_at || mono_ms() < due_at) return;
  due_at = 0;
  due->call();
}

Result<int> start_detached(const std::string& shell_command) {
  return start_detached({"/bin/sh", "-c", shell_command}, {}, false);
}

Result<int> start_detached(const std::vector<std::string>& args, const std::vector<std::string>& extra_env, bool quiet) {
  if (args.empty()) return make_error("start_detached: empty argv");
  // Everything exec needs is built before fork: the child only makes async-signal-safe calls.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    bool replaced = std::any_of(extra_env.begin(), extra_env.end(), [&](const std::string& x) {
      return kv.substr(0, kv.find('=') + 1) == std::string_view(x).substr(0, x.find('=') + 1);
    });
    if (!replaced) env_store.emplace_back(kv);
  }
  env_store.insert(env_store.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> argv = exec_array(args), envp = exec_array(env_store);
  // fork + exec: the child does only async-signal-safe calls before exec — its own process
  // group, default signals, an empty mask, stdin from /dev/null.
  pid_t pid = ::fork();
  if (pid < 0) return make_error("cannot start " + (args[0] == "/bin/sh" ? args.back() : args[0]) + ": fork: " + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int in = ::open("/dev/null", O_RDONLY);
    if (in >= 0) ::dup2(in, 0);
    if (quiet) {
      int out = ::open("/dev/null", O_WRONLY);
      if (out >= 0) {
        ::dup2(out, 1);
        ::dup2(out, 2);
      }
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);   // also from this side, so a signal sent right away reaches the group
  return static_cast<int>(pid);
}

std::string sibling_program(const std::string& name) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto p = self.parent_path() / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return find_in_path(name);
}

std::string find_in_path(const std::string& name, const std::string& skip_realpath) {
  const char* path = std::getenv("PATH");
  return search_path(name, path ? path : "/usr/local/bin:/usr/bin:/bin", skip_realpath);
}

namespace {
std::string search_path(const std::string& name, const std::string& p, const std::string& skip_realpath) {
  if (name.find('/') != std::string::npos) return name;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find(':', i);
    if (j == std::string::npos) j = p.size();
    std::string dir = p.substr(i, j - i);
    if (dir.empty()) dir = ".";
    std::string cand = dir;
    cand.push_back('/');
    cand.append(name);
    if (::access(cand.c_str(), X_OK) == 0) {
      struct stat st {};
      if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        if (skip_realpath.empty()) return cand;
        std::error_code ec;
        auto rp = std::filesystem::canonical(cand, ec);
        if (ec || rp.string() != skip_realpath) return cand;
      }
    }
    i = j + 1;
  }
  return {};
}
}  // namespace

}  // namespace zbuild
