// zbuild-sandbox: the resident helper of one worker slot (docs/security.md, "Sandbox").
//
// zbuild-worker starts it once per slot inside bubblewrap (no network, this host's /usr
// read-only, a clean environment, the slot's task folders at /.zbuild/slot, this binary at
// /.zbuild/zbuild-sandbox; --as-pid-1: the helper is the init of the slot's PID namespace) and
// hands it tasks over a SOCK_SEQPACKET socket, argv[1] (worker/sandbox_protocol.h).
//
// Once, at start, it builds the slot's root on a fresh tmpfs — this host's system folders and
// /dev bound read-only, a fresh /proc (its kernel knobs read-only) and /dev/shm — and enters it
// (chroot; /.zbuild, the slot's folders and this binary stay outside, reachable only through a
// close-on-exec descriptor). It empties the capability bounding set and sets no_new_privs, so
// nothing started from it can gain a capability.
//
// Per task: the task's folder is bound read-write where the task expects it (kept from the last
// task while it is the same folder at the same place: the worker empties and reuses it), and the
// command is started (CLONE_VM | CLONE_VFORK: no page tables copied) with every capability
// dropped, exactly the task's environment, its address-space limit and working folder. When it
// ends (or at the timeout) every other process of the namespace is killed and reaped — all are
// the helper's descendants, and none can signal the helper (an init gets only the signals it
// handles) — then /dev/shm and System V IPC are cleared, and only then does the helper answer.
//
// libc only; single-threaded. Every request byte is checked (sandbox_protocol.h); a malformed
// request, or traffic from the worker while a task runs, ends the helper (the worker starts
// another).
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "worker/sandbox_protocol.h"

namespace sp = zbuild::sandbox_protocol;

namespace {

constexpr char kSlot[] = "/.zbuild/slot";
constexpr char kRoot[] = "/.zbuild/root";   // where each task's root is built (in its own namespace)

// This helper's own top-level entries (bwrap made them: /usr, /etc, links such as /bin ->
// usr/bin): each task's root shows the same, read-only.
struct Entry {
  char name[NAME_MAX + 1];
  char link[PATH_MAX];   // non-empty: a symbolic link to this
  bool dir;
};
Entry g_entries[64];
int g_nentries = 0;
int g_last_cap = 40;

// The parts of each task's /proc made read-only (as bubblewrap does), and whether this kernel
// has them; whether bubblewrap's /dev has a shm folder (each task gets a tmpfs of its own there).
constexpr int kKnobCount = 4;
constexpr const char* kKnobs[kKnobCount] = {"/.zbuild/root/proc/sys", "/.zbuild/root/proc/sysrq-trigger",
                                            "/.zbuild/root/proc/irq", "/.zbuild/root/proc/bus"};
bool g_knob_present[kKnobCount];
bool g_dev_shm = false;

uint8_t g_body[sp::kMaxBody];
char* g_argv[sp::kMaxArgs + 1];
char* g_env[sp::kMaxEnv + 1];


[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "zbuild-sandbox: %s: %s\n", what, std::strerror(errno));
  _exit(1);
}

[[noreturn]] void protocol_error(const char* what) {
  std::fprintf(stderr, "zbuild-sandbox: malformed request (%s); exiting\n", what);
  _exit(2);
}

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// out = a + sep + b; false when it does not fit. `out` must not be `a` or `b`.
bool join(char* out, size_t cap, const char* a, const char* sep, const char* b) {
  int n = std::snprintf(out, cap, "%s%s%s", a, sep, b);
  return n > 0 && static_cast<size_t>(n) < cap;
}

void scan_root() {
  DIR* d = opendir("/");
  if (!d) die("opendir /");
  while (dirent* e = readdir(d)) {
    const char* n = e->d_name;
    if (!std::strcmp(n, ".") || !std::strcmp(n, "..") || !std::strcmp(n, ".zbuild") || !std::strcmp(n, "proc") ||
        !std::strcmp(n, "dev")) {
      continue;
    }
    if (g_nentries == static_cast<int>(sizeof g_entries / sizeof g_entries[0])) break;
    Entry& en = g_entries[g_nentries];
    char path[PATH_MAX];
    if (!join(path, sizeof path, "", "/", n)) continue;
    struct stat st {};
    if (lstat(path, &st) != 0) continue;
    std::snprintf(en.name, sizeof en.name, "%s", n);
    en.link[0] = '\0';
    if (S_ISLNK(st.st_mode)) {
      ssize_t l = readlink(path, en.link, sizeof en.link - 1);
      if (l <= 0) continue;
      en.link[l] = '\0';
    } else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
      continue;
    }
    en.dir = S_ISDIR(st.st_mode);
    ++g_nentries;
  }
  closedir(d);
}

// ---- the slot's root: built once, the task folder bound where each task expects it ----

int g_slot_fd = -1;   // /.zbuild/slot (outside the root once the helper is in it)

// The task folder bound in the root: where, which folder (by identity: a folder the worker
// replaced is bound again), and the mount point folders made for it (removed with it).
struct Binding {
  bool active = false;
  char at[PATH_MAX];
  size_t made_len = 0;   // length of the first folder made on the way to `at` (0: none made)
  dev_t dev = 0;
  ino_t ino = 0;
};
Binding g_bound;

// What a failed step tells the helper (and the worker: its errno and name).
struct StepError {
  const char* step;
  int err_no;
};

// The root's own folders (a tmpfs) are read-only but while a mount point is made or removed.
bool root_writable(bool on) {
  mount_attr a{};
  if (on) a.attr_clr = MOUNT_ATTR_RDONLY;
  else a.attr_set = MOUNT_ATTR_RDONLY;
  return mount_setattr(AT_FDCWD, "/", 0, &a, sizeof a) == 0;
}

// mkdir -p of `at` (checked clean and absolute), never through a symbolic link; `made_len` is
// the length of the first folder it made (0: all were there).
bool make_mount_point(const char* at, size_t* made_len) {
  *made_len = 0;
  int dfd = open("/", O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return false;
  char comp[NAME_MAX + 1];
  for (const char* c = at; *c;) {
    const char* e = c + 1;
    while (*e && *e != '/') ++e;
    size_t len = static_cast<size_t>(e - c - 1);
    if (len > NAME_MAX) {
      close(dfd);
      errno = ENAMETOOLONG;
      return false;
    }
    std::memcpy(comp, c + 1, len);
    comp[len] = '\0';
    if (mkdirat(dfd, comp, 0755) == 0) {
      if (*made_len == 0) *made_len = static_cast<size_t>(e - at);
    } else if (errno != EEXIST) {
      close(dfd);
      return false;
    }
    int next = openat(dfd, comp, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (next < 0) return false;
    dfd = next;
    c = e;
  }
  close(dfd);
  return true;
}

// Unbinds the task folder and removes the mount point folders made for it. A leftover empty
// folder is harmless; a bind that will not go away is not (the helper ends).
void release_binding() {
  if (!g_bound.active) return;
  if (umount2(g_bound.at, MNT_DETACH) != 0) die("unbind the task folder");
  g_bound.active = false;
  if (g_bound.made_len == 0) return;
  if (!root_writable(true)) die("root read-write");
  char path[PATH_MAX];
  std::snprintf(path, sizeof path, "%s", g_bound.at);
  for (;;) {
    if (rmdir(path) != 0) break;
    char* slash = std::strrchr(path, '/');
    if (!slash || static_cast<size_t>(slash - path) < g_bound.made_len) break;
    *slash = '\0';
  }
  if (!root_writable(false)) die("root read-only");
}

bool under(const char* path, const char* top) {
  size_t n = std::strlen(top);
  return !std::strncmp(path, top, n) && (path[n] == '\0' || path[n] == '/');
}

// The task's folder at r.mount_at, read-write (no devices, no setuid): kept from the last task
// when it is the same folder at the same place (a slot's worker empties and reuses its folder).
bool bind_folder(const sp::Request& r, StepError* e) {
  *e = {"task folder", 0};
  struct stat want {};
  if (fstatat(g_slot_fd, r.folder, &want, AT_SYMLINK_NOFOLLOW) != 0) return false;
  if (!S_ISDIR(want.st_mode)) {
    errno = ENOTDIR;
    return false;
  }
  if (under(r.mount_at, "/proc") || under(r.mount_at, "/dev")) {   // the helper keeps those as they are
    errno = EINVAL;
    return false;
  }
  if (g_bound.active && !std::strcmp(g_bound.at, r.mount_at)) {
    struct stat cur {};
    if (stat(r.mount_at, &cur) == 0 && cur.st_dev == want.st_dev && cur.st_ino == want.st_ino && cur.st_nlink > 0) {
      return true;
    }
  }
  release_binding();
  *e = {"mount point", 0};
  if (!root_writable(true)) return false;
  size_t made = 0;
  bool ok = make_mount_point(r.mount_at, &made);
  int saved = errno;
  if (!root_writable(false)) die("root read-only");
  errno = saved;
  if (!ok) return false;
  *e = {"task folder", 0};
  int tree = static_cast<int>(open_tree(g_slot_fd, r.folder, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW));
  if (tree < 0) return false;
  mount_attr rw{};
  rw.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (mount_setattr(tree, "", AT_EMPTY_PATH, &rw, sizeof rw) != 0 ||
      move_mount(tree, "", AT_FDCWD, r.mount_at, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    saved = errno;
    close(tree);
    errno = saved;
    return false;
  }
  close(tree);
  g_bound.active = true;
  std::snprintf(g_bound.at, sizeof g_bound.at, "%s", r.mount_at);
  g_bound.made_len = made;
  g_bound.dev = want.st_dev;
  g_bound.ino = want.st_ino;
  return true;
}

// Once, at the helper's start: the root every task of this slot sees, built on a fresh tmpfs —
// this host's system folders (as bubblewrap shows them) and /dev bound read-only, a fresh
// /proc (its kernel knobs read-only) and /dev/shm — then the helper enters it (chroot; what lies
// outside, /.zbuild with the slot's folders and this binary, is reachable only through
// g_slot_fd, which no task inherits).
void build_root() {
  // Nothing mounted here propagates back to bubblewrap's namespace (or anywhere else).
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("private mounts");
  if (mkdir(kRoot, 0700) != 0 && errno != EEXIST) die("mkdir " "/.zbuild/root");
  if (mount("tmpfs", kRoot, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0) die("root tmpfs");
  char path[PATH_MAX], src[PATH_MAX];
  for (int i = 0; i < g_nentries; ++i) {
    const Entry& e = g_entries[i];
    if (!join(path, sizeof path, kRoot, "/", e.name) || !join(src, sizeof src, "", "/", e.name)) continue;
    if (e.link[0]) {
      if (symlink(e.link, path) != 0) die("system links");
      continue;
    }
    if (e.dir) {
      if (mkdir(path, 0755) != 0) die("system folders");
    } else {
      int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) die("system files");
      close(fd);
    }
    if (mount(src, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) die("system folders");
  }
  if (mkdir("/.zbuild/root/dev", 0755) != 0 || mount("/dev", "/.zbuild/root/dev", nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    die("dev");
  }
  if (mkdir("/.zbuild/root/proc", 0555) != 0) die("proc");
  // Everything so far read-only (the binds of /dev and /etc included), then the writable parts.
  mount_attr ro{};
  ro.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
  if (mount_setattr(AT_FDCWD, kRoot, AT_RECURSIVE, &ro, sizeof ro) != 0) die("read-only root");
  // hidepid: a task lists only processes it could trace (its own), not the helper.
  if (mount("proc", "/.zbuild/root/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,gid=65534") != 0) die("proc");
  // As bubblewrap does: the kernel's knobs in /proc read-only.
  for (int i = 0; i < kKnobCount; ++i) {
    if (!g_knob_present[i]) continue;
    const char* knob = kKnobs[i];
    if (mount(knob, knob, nullptr, MS_BIND | MS_REC, nullptr) != 0 || mount_setattr(AT_FDCWD, knob, AT_RECURSIVE, &ro, sizeof ro) != 0) {
      die("proc read-only parts");
    }
  }
  if (g_dev_shm && mount("tmpfs", "/.zbuild/root/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) die("dev/shm");
  g_slot_fd = open(kSlot, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (g_slot_fd < 0) die("open " "/.zbuild/slot");
  if (chroot(kRoot) != 0 || chdir("/") != 0) die("enter the root");
}

// What a task may leave in the slot besides its folder, gone before the next one starts: files
// in /dev/shm (a fresh tmpfs replaces a used one) and System V IPC objects (the slot has its
// own IPC namespace: every object in it is a task's).
void clear_leftovers() {
  if (g_dev_shm) {
    // The tmpfs counts its inodes: more than its root folder means the task left something.
    struct statfs fs {};
    bool used = statfs("/dev/shm", &fs) != 0 || fs.f_files == 0 || fs.f_files - fs.f_ffree > 1;
    if (used && (umount2("/dev/shm", MNT_DETACH) != 0 ||
                 mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0)) {
      die("fresh /dev/shm");
    }
  }
  shm_info si{};
  int top = shmctl(0, SHM_INFO, reinterpret_cast<shmid_ds*>(&si));
  if (top >= 0 && si.used_ids > 0) {
    for (int i = 0; i <= top; ++i) {
      shmid_ds ds{};
      int id = shmctl(i, SHM_STAT_ANY, &ds);
      if (id >= 0 && shmctl(id, IPC_RMID, nullptr) != 0) die("remove a shared memory segment");
    }
  }
  msginfo mi{};
  top = msgctl(0, MSG_INFO, reinterpret_cast<msqid_ds*>(&mi));
  if (top >= 0 && mi.msgpool > 0) {
    for (int i = 0; i <= top; ++i) {
      msqid_ds ds{};
      int id = msgctl(i, MSG_STAT_ANY, &ds);
      if (id >= 0 && msgctl(id, IPC_RMID, nullptr) != 0) die("remove a message queue");
    }
  }
  seminfo sem{};
  top = semctl(0, 0, SEM_INFO, &sem);
  if (top >= 0 && sem.semusz > 0) {
    for (int i = 0; i <= top; ++i) {
      semid_ds ds{};
      int id = semctl(i, 0, SEM_STAT_ANY, &ds);
      if (id >= 0 && semctl(id, 0, IPC_RMID) != 0) die("remove a semaphore set");
    }
  }
}

// Once, at the helper's start: what no process started from here may ever gain back — an
// empty capability bounding set and ambient set, root without capabilities at exec, no new
// privileges. The helper keeps its own effective capabilities (mounts, namespaces); every task
// inherits the rest and drops those too (drop_capabilities).
void lock_down() {
  if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                   SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED) != 0) {
    die("securebits");
  }
  for (int c = 0; c <= g_last_cap; ++c) {
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) die("capability bounding set");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) die("ambient capabilities");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
}

// ---- the task's command ----

// The command, started with CLONE_VM | CLONE_VFORK on its own stack (no page tables copied; the
// helper is suspended until it has exec'd or ended): only system calls until execve. What failed
// before the exec is left in `step`, `flags` and `err_no` for the helper to read.
struct Command {
  const sp::Request* r;
  int out, err;
  const char* step;
  uint32_t flags;
  int err_no;
};

[[noreturn]] void command_failed(Command& c, const char* step, uint32_t flags = sp::kSetupFailed) {
  c.step = step;
  c.flags = flags;
  c.err_no = errno;
  _exit(127);
}

// execvpe with the task's own PATH (the helper's environment is empty).
[[noreturn]] void exec_command(Command& c) {
  const sp::Request& r = *c.r;
  const char* prog = r.argv[0];
  if (std::strchr(prog, '/')) {
    execve(prog, r.argv, r.env);
    command_failed(c, "exec", sp::kExecFailed);
  }
  const char* path = "/usr/local/bin:/usr/bin:/bin";
  for (uint32_t i = 0; i < r.envc; ++i) {
    if (!std::strncmp(r.env[i], "PATH=", 5)) path = r.env[i] + 5;
  }
  int saved = ENOENT;
  char cand[PATH_MAX];
  for (const char* p = path;;) {
    const char* e = std::strchr(p, ':');
    size_t len = e ? static_cast<size_t>(e - p) : std::strlen(p);
    int n = std::snprintf(cand, sizeof cand, "%.*s/%s", static_cast<int>(len), len ? p : ".", prog);
    if (n > 0 && static_cast<size_t>(n) < sizeof cand) {
      execve(cand, r.argv, r.env);
      if (errno == EACCES) saved = EACCES;
      else if (errno != ENOENT && errno != ENOTDIR) saved = errno;
    }
    if (!e) break;
    p = e + 1;
  }
  errno = saved;
  command_failed(c, "exec", sp::kExecFailed);
}

int command_main(void* arg) {
  Command& c = *static_cast<Command*>(arg);
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0 || dup2(in, 0) < 0 || dup2(c.out, 1) < 0 || dup2(c.err, 2) < 0) command_failed(c, "stdio");
  if (chdir(c.r->cwd) != 0) command_failed(c, "chdir");
  if (c.r->memory_limit_bytes > 0) {
    rlimit lim{c.r->memory_limit_bytes, c.r->memory_limit_bytes};
    if (setrlimit(RLIMIT_AS, &lim) != 0) command_failed(c, "memory limit");
  }
  if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) != 0) command_failed(c, "close fds");
  // Every capability gone (the bounding set already is, since lock_down): the command and all
  // it starts run without any.
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capset, &hdr, data) != 0) command_failed(c, "capabilities");
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  exec_command(c);
}

alignas(64) char g_command_stack[64 * 1024];

// Kills every process of the slot's PID namespace but the helper (its init) and reaps them: all
// are the helper's descendants, so no child left means no process left. A process forking
// while kill(-1) runs is killed with its child (the kernel fails a fork whose parent got SIGKILL).
void kill_all() {
  for (;;) {
    if (kill(-1, SIGKILL) != 0 && errno != ESRCH) die("kill the task's processes");
    pid_t p = waitpid(-1, nullptr, 0);
    if (p < 0 && errno == ECHILD) return;
    if (p < 0 && errno != EINTR) die("waitpid");
  }
}

int g_sigchld_fd = -1;   // SIGCHLD, blocked, read through a signalfd

// ---- the helper's loop ----

// Receives one request (its two fds and body) into g_body; false at the worker's end of stream.
bool receive(int sock, int fds[2], uint32_t* body_len) {
  sp::RequestHead head{};
  iovec iov{&head, sizeof head};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n == 0) return false;
  if (n < 0) die("recvmsg");
  int got = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (got < 2) fds[got] = fd;
      else close(fd);
      ++got;
    }
  }
  if (got != 2 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) protocol_error("expected a head with two fds");
  if (n != sizeof head || head.magic != sp::kMagic || head.version != sp::kVersion || head.kind != sp::kKindRun ||
      head.reserved != 0 || head.body_len > sp::kMaxBody) {
    protocol_error("bad head");
  }
  uint32_t off = 0;
  while (off < head.body_len) {
    uint32_t want = head.body_len - off < sp::kMaxChunk ? head.body_len - off : sp::kMaxChunk;
    iovec biov{g_body + off, want};
    msghdr bm{};
    bm.msg_iov = &biov;
    bm.msg_iovlen = 1;
    bm.msg_control = cbuf;
    bm.msg_controllen = sizeof cbuf;
    do n = recvmsg(sock, &bm, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0) protocol_error("body cut short");
    if (bm.msg_controllen != 0 || (bm.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) protocol_error("oversized body datagram");
    off += static_cast<uint32_t>(n);
  }
  *body_len = head.body_len;
  return true;
}

void reply(int sock, int32_t wait_status, uint32_t flags, int32_t err_no, const char* step) {
  sp::Reply r{};
  r.magic = sp::kMagic;
  r.version = sp::kVersion;
  r.kind = sp::kKindReply;
  r.wait_status = wait_status;
  r.err_no = err_no;
  r.flags = flags;
  std::snprintf(r.step, sizeof r.step, "%s", step);
  if (send(sock, &r, sizeof r, MSG_NOSIGNAL) != sizeof r) die("send reply");
}

void run_task(int sock, const sp::Request& r, int out, int err) {
  StepError be{};
  if (!bind_folder(r, &be)) {
    int e = errno;
    close(out);
    close(err);
    reply(sock, 0, sp::kSetupFailed, e, be.step);
    return;
  }
  int64_t start = now_ms();
  Command c{&r, out, err, nullptr, 0, 0};
  pid_t main_pid = clone(command_main, g_command_stack + sizeof g_command_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
  int clone_errno = errno;
  if (main_pid < 0) {
    close(out);
    close(err);
    reply(sock, 0, sp::kSetupFailed, clone_errno, "clone");
    return;
  }
  int main_status = 0;
  bool main_done = false, timed_out = false;
  while (!main_done && !c.step) {
    pollfd p[2] = {{g_sigchld_fd, POLLIN, 0}, {sock, POLLIN, 0}};
    int wait = -1;
    if (r.timeout_ms > 0 && !timed_out) {
      int64_t left = start + static_cast<int64_t>(r.timeout_ms) - now_ms();
      wait = left <= 0 ? 0 : static_cast<int>(left < INT_MAX ? left : INT_MAX);
    }
    int pr = poll(p, 2, wait);
    if (pr < 0 && errno != EINTR) die("poll");
    if (pr == 0 && wait >= 0 && !timed_out) {
      timed_out = true;
      if (kill(-1, SIGKILL) != 0 && errno != ESRCH) die("kill the task's processes");
      continue;
    }
    if (pr <= 0) continue;
    // Nothing may come while a task runs: the worker is leaving. The helper ends, and as the
    // namespace's init takes every process of the task with it.
    if (p[1].revents) _exit(0);
    if (p[0].revents) {
      signalfd_siginfo si[16];
      while (read(g_sigchld_fd, si, sizeof si) > 0) {
      }
      int st = 0;
      pid_t w;
      while ((w = waitpid(-1, &st, WNOHANG)) > 0) {   // orphans are reaped as they end
        if (w == main_pid) {
          main_status = st;
          main_done = true;
        }
      }
    }
  }
  kill_all();
  clear_leftovers();
  if (c.step) reply(sock, 0, c.flags & (sp::kSetupFailed | sp::kExecFailed), c.err_no, c.step);
  else if (timed_out) reply(sock, 0, sp::kTimedOut, 0, "");
  else reply(sock, main_status, 0, 0, "");
  // The helper's copies of the output pipes close only now: the worker sees the end of the
  // output with the answer (one wake-up, not two), and no task process holds them any more.
  close(out);
  close(err);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: zbuild-sandbox FD (started by zbuild-worker inside bubblewrap)\n");
    return 2;
  }
  char* end = nullptr;
  long sock = std::strtol(argv[1], &end, 10);
  int type = 0;
  socklen_t tl = sizeof type;
  if (*end || sock < 3 || sock > 1024 || getsockopt(static_cast<int>(sock), SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
      type != SOCK_SEQPACKET) {
    std::fprintf(stderr, "zbuild-sandbox: fd %s is not a SOCK_SEQPACKET socket\n", argv[1]);
    return 2;
  }
  for (int fd = 0; fd < 3; ++fd) {   // received fds must never land on 0, 1 or 2
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) die("stdio");
  }
  // Nothing else inherited stays open.
  if (sock > 3) close_range(3, static_cast<unsigned>(sock) - 1, 0);
  close_range(static_cast<unsigned>(sock) + 1, ~0u, 0);
  fcntl(static_cast<int>(sock), F_SETFD, FD_CLOEXEC);
  if (FILE* f = std::fopen("/proc/sys/kernel/cap_last_cap", "re")) {
    if (std::fscanf(f, "%d", &g_last_cap) != 1) g_last_cap = 40;
    std::fclose(f);
  }
  scan_root();
  for (int i = 0; i < kKnobCount; ++i) g_knob_present[i] = access(kKnobs[i] + std::strlen(kRoot), F_OK) == 0;
  g_dev_shm = access("/dev/shm", F_OK) == 0;
  // PID 1 of the slot's PID namespace (bubblewrap --as-pid-1): every process of a task is its
  // descendant, none can signal it (an init gets only the signals it handles), and when it ends
  // the kernel ends them all.
  if (getpid() != 1) {
    std::fprintf(stderr, "zbuild-sandbox: must run as PID 1 of its own PID namespace (bubblewrap --as-pid-1)\n");
    return 2;
  }
  // Not dumpable: no task, with the same user and no capabilities, may ptrace it or read its /proc.
  if (prctl(PR_SET_DUMPABLE, 0) != 0) die("not dumpable");
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, nullptr) != 0) die("block SIGCHLD");
  g_sigchld_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (g_sigchld_fd < 0) die("signalfd");
  lock_down();
  build_root();
  for (;;) {
    int fds[2] = {-1, -1};
    uint32_t n = 0;
    if (!receive(static_cast<int>(sock), fds, &n)) return 0;
    sp::Request r;
    if (!sp::parse_request(g_body, n, &r, g_argv, sp::kMaxArgs + 1, g_env, sp::kMaxEnv + 1)) protocol_error("bad body");
    run_task(static_cast<int>(sock), r, fds[0], fds[1]);
  }
}
