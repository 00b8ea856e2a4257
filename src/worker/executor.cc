#include "worker/executor.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/command_policy.h"
#include "common/fs.h"
#include "common/paths.h"
#include "common/subprocess.h"
#include "proto/root_free.h"
#include "worker/sandbox_protocol.h"
#include "worker/task_files.h"

namespace zbuild::worker {

namespace fs = std::filesystem;

static std::string map_root(const std::string& arg, const std::string& root, const std::string& sb) {
  if (root.empty() || root == "/") return arg;
  std::string out;
  size_t i = 0;
  while (i < arg.size()) {
    size_t j = arg.find(root, i);
    if (j == std::string::npos) break;
    size_t end = j + root.size();
    bool boundary = end == arg.size() || arg[end] == '/';
    out.append(arg, i, j - i);
    out.append(boundary ? sb : root);
    i = end;
  }
  out.append(arg, i, std::string::npos);
  return out;
}

std::vector<std::string> Executor::map_argv(const ActionSpec& a, const std::string& sandbox) {
  std::vector<std::string> argv;
  argv.reserve(a.argv.size() + 1);
  for (auto& s : a.argv) argv.push_back(map_root(s, a.root, sandbox));
  // A compile that maps the root to "." (root-free) has the sandbox mapped to "." too.
  bool to_dot = std::find(a.argv.begin(), a.argv.end(), root_prefix_map(a.root)) != a.argv.end();
  if (cmd::compiles_code(a.argv) && !a.root.empty()) {
    argv.insert(argv.begin() + 1, "-ffile-prefix-map=" + sandbox + "=" + (to_dot ? std::string(".") : a.root));
  }
  return argv;
}

bool program_allowed(const SandboxPolicy& p, const std::string& argv0, std::string* why, const std::string& root) {
  auto refuse = [&](const std::string& m) {
    if (why) *why = "zbuild-worker: " + m + "\n";
    return false;
  };
  if (argv0.find('/') != std::string::npos) {
    fs::path prog = fs::path(argv0).lexically_normal();
    if (!prog.is_absolute()) return refuse("program '" + argv0 + "' is a relative path: a task may not run a file it ships");
    if (!root.empty() && root != "/" && is_under(fs::path(root).lexically_normal(), prog)) {
      return refuse("program '" + argv0 + "' lies under the exec root: a task may not run a file it ships");
    }
  }
  if (cmd::program_allowed_by(argv0, p.allowed, p.allow_any)) {
    return true;
  }
  return refuse("program '" + argv0 + "' is not allow-listed on this worker (it runs the C/C++ toolchain; "
                "the operator adds others with --allow-program NAME)");
}

std::string refusal(const SandboxPolicy& p, const ActionSpec& a, const std::string& sandbox_cwd) {
  std::string why;
  if (a.argv.empty()) return "zbuild-worker: empty command\n";
  if (!program_allowed(p, a.argv[0], &why, a.root)) return why;
  if (auto ev = cmd::check_env(a.env); !ev.ok()) return "zbuild-worker: " + ev.error().message + "\n";
  return options_refusal(p, a, sandbox_cwd);
}

std::string options_refusal(const SandboxPolicy& p, const ActionSpec& a, const std::string& sandbox_cwd) {
  if (p.allow_any) return {};
  // Response files are read from the task's own directory only: inputs it shipped.
  auto expanded = cmd::expand_response_files(a.argv, [&](const std::string& f) -> Result<std::optional<std::string>> {
    auto rel = normalize_relative(f, "response file");
    if (!rel.ok()) return make_error("must be a relative path inside the task's directory");
    fs::path path = fs::path(sandbox_cwd) / rel.value();
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return std::optional<std::string>();
    if (!S_ISREG(st.st_mode)) return make_error("not a regular file");
    auto text = read_file(path);
    if (!text.ok()) return text.error();
    return std::optional<std::string>(std::move(text.value()));
  });
  if (!expanded.ok()) return "zbuild-worker: " + expanded.error().message + "\n";
  if (auto st = cmd::check_compiler_options(expanded.value(), p.allowed_options); !st.ok()) {
    return "zbuild-worker: " + st.error().message + "\n";
  }
  return {};
}

std::string probe_bwrap() {
  std::string bwrap = find_in_path("bwrap");
  if (bwrap.empty()) return {};
  ProcessSpec ps;
  ps.argv = {bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
             "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
             "--", "/usr/bin/true"};
  ps.timeout_ms = 10000;
  auto r = run_process(ps);
  if (!r.ok() || r.value().exit_code != 0) return {};
  return bwrap;
}

// The command wrapped in the sandbox, per task (tasks with a shipped toolchain; the others run
// through their slot's resident helper, worker/slot_sandbox.h): bubblewrap with only `sb`
// writable (everything else, the toolchain included, read-only or absent), no network. With bubblewrap the sandbox is mounted at the client's exec root itself,
// so the command sees exactly the paths it would see on the submitting host (debug info, rpaths,
// __FILE__ need no mapping); without it the sandbox stands in for the root and argv is mapped.
static std::vector<std::string> sandboxed(const SandboxPolicy& p, const std::vector<std::string>& argv,
                                          const std::string& sb, const std::string& mount_at,
                                          const std::string& cwd, const std::vector<std::string>& env,
                                          const fs::path& toolchain_root) {
  std::vector<std::string> out;
  if (p.use_bwrap) {
    std::vector<std::string> b = {p.bwrap, "--unshare-all", "--die-with-parent", "--new-session"};
    auto sys = bwrap_system_binds(toolchain_root);
    b.insert(b.end(), sys.begin(), sys.end());
    b.insert(b.end(), {"--proc", "/proc", "--dev", "/dev",
                       "--bind", sb, mount_at, "--remount-ro", "/", "--chdir", cwd, "--clearenv"});
    // The task's environment reaches only the command inside; bwrap runs with the worker's
    // fixed one.
    for (auto& e : env) {
      auto eq = e.find('=');
      b.insert(b.end(), {"--setenv", e.substr(0, eq), e.substr(eq + 1)});
    }
    b.push_back("--");
    out.insert(out.end(), b.begin(), b.end());
  }
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

namespace {
constexpr uint64_t kMaxOutputBytes = 4ull << 30;   // BlobAssemblerLimits::max_blob
// Where the slot sandbox shows a task's folder whose root cannot be shown as it is (under /usr,
// /proc or /dev, or not a clean absolute path).
constexpr char kSlotView[] = "/zbuild-task";
}  // namespace

bool inside_without_links(const fs::path& dir, const std::string& rel) {
  fs::path cur = dir;
  fs::path r = fs::path(rel).lexically_normal();
  if (r.is_absolute() || r.empty() || *r.begin() == "..") return false;
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (std::next(it) == r.end()) break;   // the last component is the file itself
    cur /= *it;
    struct stat st {};
    if (::lstat(cur.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;   // a symlink is not S_ISDIR
  }
  return true;
}

// A root-free compile's depfiles name headers under the root by the absolute path the command
// saw (`view`: the root itself, or where the sandbox showed the folder): rewritten relative to the task's
// folder before they are hashed, so the cached depfile fits every checkout (proto/root_free.h).
static Status relativize_depfiles(const ActionSpec& a, const fs::path& sb, const std::string& view) {
  for (auto& d : depfile_outputs(a)) {
    if (std::find(a.outputs.begin(), a.outputs.end(), d) == a.outputs.end() || !inside_without_links(sb, d)) continue;
    fs::path f = sb / d;
    struct stat st {};
    if (::lstat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;   // reported as not produced below
    auto text = read_file(f);
    if (!text.ok()) return make_error("depfile '" + d + "': " + text.error().message);
    std::string rel = relativize_depfile(text.value(), {a.root, view}, a.cwd);
    if (rel == text.value()) continue;
    auto w = write_file_atomic(f, rel);
    if (!w.ok()) return make_error("depfile '" + d + "': " + w.error().message);
  }
  return {};
}

ExecResult Executor::run(const ActionSpec& a, const std::string& name, const HostSide& host, TaskSandbox* slot,
                         int slot_index, DueCall* due) {
  const fs::path& toolchain_root = host.shipped_root;
  ExecResult r;
  // Refused before anything on this host is looked at (host files included).
  std::string refused;
  if (auto ev = cmd::check_env(a.env); !ev.ok()) refused = "zbuild-worker: " + ev.error().message + "\n";
  else if (a.argv.empty()) refused = "zbuild-worker: empty command\n";
  else program_allowed(policy_, a.argv[0], &refused, a.root);
  if (!refused.empty()) {
    r.exit_code = 126;
    r.err = refused;
    return r;
  }
  if (!toolchain_root.empty() && !policy_.use_bwrap) {
    r.infra_error = "a shipped toolchain needs the sandbox";
    return r;
  }
  // With a shipped toolchain the host files are that toolchain's root's, not this host's.
  auto hc = toolchain_root.empty() && !host.checked ? hosts_.check(a.host_files) : Status();
  if (!hc.ok()) {
    r.infra_error = hc.error().message;
    return r;
  }
  // Tasks with this host's files run through the slot's helper; a shipped toolchain's root is
  // not what the helper shows, so those keep a bubblewrap of their own (started per task).
  TaskSandbox* helper = policy_.use_bwrap && toolchain_root.empty() ? slot : nullptr;
  // A fresh folder is a new inode (costly on some file systems, ext4 without a journal most);
  // a slot's tasks run one after another in the slot's own folder, emptied after each. Its
  // name is fixed: no task sees the folders around it (a slot sandbox shows it at the root or
  // at a fixed place; without a sandbox, a task can reach anything the worker can anyway).
  r.reuse = helper || slot_index >= 0;
  fs::path sb = helper ? helper->area() / ".task"
                : r.reuse ? sandbox_root_ / (".task-" + std::to_string(slot_index))
                          : sandbox_root_ / name;
  r.sandbox = sb;
  std::error_code ec;
  bool ready = false;
  if (r.reuse) {
    std::lock_guard lock(ready_mu_);
    ready = ready_.erase(sb) > 0;
  }
  if (!ready && ::mkdir(sb.c_str(), 0755) != 0) {
    fs::remove_all(sb, ec);
    fs::create_directories(sb, ec);
  }
  if (ec) {
    r.infra_error = "sandbox " + sb.string() + ": " + ec.message();
    return r;
  }
  std::set<std::string> made;   // the folders made for inputs so far
  for (auto& in : a.inputs) {
    // in.path was checked relative and non-escaping
    Status placed = make_folders_to(sb.string(), in.path, made);
    if (placed.ok()) placed = copy_input(cache_.path(in.digest).string(), (sb / in.path).string(), in.executable);
    if (!placed.ok()) {
      r.infra_error = "sandbox: cannot place input '" + in.path + "': " + placed.error().message;
      return r;
    }
  }
  // Folders the command needs: its outputs' and its working folder (none to make for a task
  // in the root writing files there), and .zbuild-tmp (kept by cleanup() in a reused folder).
  for (auto& o : a.outputs) {
    if (o.find('/') != std::string::npos) fs::create_directories((sb / o).parent_path(), ec);
  }
  if (!a.cwd.empty() && a.cwd != ".") fs::create_directories(sb / a.cwd, ec);
  if (!ready) fs::create_directories(sb / ".zbuild-tmp", ec);
  const std::string task_cwd = (sb / a.cwd).lexically_normal().string();
  refused = options_refusal(policy_, a, task_cwd);   // program and environment were checked above
  if (!refused.empty()) {
    r.exit_code = 126;
    r.err = refused;
    return r;
  }

  ProcessSpec ps;
  ps.cwd = task_cwd;
  bool at_root = policy_.use_bwrap && a.root.size() > 1 && a.root[0] == '/' && !a.root.starts_with("/usr") &&
                 !a.root.starts_with("/proc") && !a.root.starts_with("/dev") &&
                 (!helper || sandbox_protocol::detail::clean_absolute(a.root.c_str()));
  // Where the command sees its folder: at the client's root when it can be shown there; else
  // the slot sandbox shows it at a fixed place, the others where it is on this host (argv and
  // what the command prints are mapped from and back to the root).
  const std::string view = at_root ? a.root : helper ? std::string(kSlotView) : sb.string();
  // The command's environment: the worker's fixed variables, then the task's (checked above).
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + view,
                                  "TMPDIR=" + (fs::path(view) / ".zbuild-tmp").string()};
  for (auto& e : a.env) env.push_back(e);
  ps.use_env = true;
  std::string inner_cwd = (fs::path(a.root) / a.cwd).lexically_normal().string();
  while (inner_cwd.size() > 1 && inner_cwd.back() == '/') inner_cwd.pop_back();   // gcc records it as given
  Result<ProcessResult> pr = make_error("");
  if (helper) {
    SandboxTask t;
    t.folder = sb.filename().string();
    t.mount_at = view;
    t.cwd = at_root ? inner_cwd : (fs::path(view) / a.cwd).lexically_normal().string();
    while (t.cwd.size() > 1 && t.cwd.back() == '/') t.cwd.pop_back();
    t.argv = at_root ? a.argv : map_argv(a, view);
    t.env = std::move(env);
    t.timeout_ms = a.timeout_ms;
    t.memory_limit_mb = policy_.memory_limit_mb;
    t.output_cap = 4u << 20;
    t.due = due;
    pr = helper->run(t);
    if (!pr.ok()) {
      r.reuse = false;   // the helper failed: its task's processes may not all be gone yet
      r.infra_error = pr.error().message;
      return r;
    }
  } else if (at_root) {
    ps.argv = sandboxed(policy_, a.argv, sb.string(), a.root, inner_cwd, env, toolchain_root);
    ps.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  } else if (policy_.use_bwrap) {
    ps.argv = sandboxed(policy_, map_argv(a, sb.string()), sb.string(), sb.string(), ps.cwd, env, toolchain_root);
    ps.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  } else {
    ps.argv = sandboxed(policy_, map_argv(a, sb.string()), sb.string(), sb.string(), ps.cwd, env, toolchain_root);
    ps.env = env;   // --sandbox none: the operator's choice; the variables were still checked
  }
  if (!helper) {
    // The address-space limit is set in the started process itself (bubblewrap passes it on).
    if (policy_.memory_limit_mb > 0) ps.address_space_limit = static_cast<uint64_t>(policy_.memory_limit_mb) << 20;
    ps.timeout_ms = a.timeout_ms;
    ps.output_cap = 4u << 20;
    ps.watch = &watch_;
    // A task ends when its command does (the slot sandbox's tasks too): one wake-up of the
    // slot per task, and its output pipes are the slot thread's own, kept from task to task.
    ps.ends_with_main = true;
    ps.due = due;
    pr = run_process(ps);
    if (!pr.ok()) {
      r.infra_error = "cannot start: " + pr.error().message;
      return r;
    }
  }
  auto& p = pr.value();
  r.run_ms = p.duration_ms;
  if (p.timed_out) {
    r.infra_error = "timed out after " + std::to_string(a.timeout_ms / 1000) + " s; process tree killed";
    return r;
  }
  r.exit_code = p.exit_code;
  r.out = std::move(p.out);
  r.err = std::move(p.err);
  const bool free_of_root = root_free(a);
  if (free_of_root) {   // messages name the root or the sandbox: cached for every checkout, each client puts its root back
    for (auto* s : {&r.out, &r.err}) *s = without_root(without_root(*s, view), a.root);
  }
  if (r.exit_code != 0) return r;
  if (free_of_root) {
    if (auto st = relativize_depfiles(a, sb, view); !st.ok()) {
      r.infra_error = st.error().message;
      return r;
    }
  }
  for (auto& o : a.outputs) {
    fs::path f = sb / o;
    struct stat st {};
    // The task may have made a folder on the way a symlink (out -> /etc): the worker reads
    // outputs on the host, so every component must be a real folder inside the sandbox.
    if (!inside_without_links(sb, o) || ::lstat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      r.exit_code = 1;
      r.err += "zbuild: declared output '" + o + "' was not produced as a regular file inside the task's folder\n";
      return r;
    }
    if (static_cast<uint64_t>(st.st_size) > kMaxOutputBytes) {   // the daemon would refuse it anyway
      r.exit_code = 1;
      r.err += "zbuild: declared output '" + o + "' is larger than " + std::to_string(kMaxOutputBytes >> 30) + " GiB\n";
      return r;
    }
    auto d = digest_file(f);
    if (!d.ok()) {
      r.infra_error = "hashing output: " + d.error().message;
      return r;
    }
    r.outputs.push_back(OutputSpec{o, d.value(), (st.st_mode & S_IXUSR) != 0});
  }
  return r;
}

// Puts back what a task may have set on the open folder `fd`: its mode and extended attributes.
// `st`: the folder as it was found.
static bool reset_folder(int fd, struct stat& st) {
  if (::fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if ((st.st_mode & 07777) != 0755 && ::fchmod(fd, 0755) != 0) return false;
  char names[4096];
  ssize_t n = ::flistxattr(fd, names, sizeof names);
  if (n < 0) return false;
  for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) {
    if (::fremovexattr(fd, names + i) != 0) return false;
  }
  return true;
}

Executor::FolderStamp Executor::stamp_of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
          static_cast<uint64_t>(st.st_nlink)};
}

// Whether the folder `path` is as it was left (`want`): a folder (not a link to one) of mode 0755
// without extended attributes, of the same device, inode, size and link count. Two system calls,
// by name: the task's processes are all gone (none that could swap the folder between the calls
// and the next task's start remains in a sandbox; without one, a task reaches all this anyway).
bool Executor::looks_as_left(const fs::path& path, const FolderStamp& want) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755 &&
         stamp_of(st) == want && ::llistxattr(path.c_str(), nullptr, 0) == 0;
}

// Empties the task folder `dir` for the next task: everything in it goes, but .zbuild-tmp
// (emptied); what the task set on the folders themselves (mode, extended attributes, ACLs) is
// reset first. Works on descriptors opened without following links. False when anything could
// not be undone (the caller then removes the folder).
//
// On a memory file system (tmpfs) a folder's size grows with each entry in it. So once the
// folders were emptied here, their device, inode, size and link count (`stamp`) say whether a
// later task left anything: when both folders look as they did, there is nothing to list or
// remove (a trivial task's reset is 8 system calls instead of 22). Any entry made, even one made
// and renamed, changes a size; a mount on either folder changes its device. On other file
// systems a folder's size does not follow its entries, and every reset lists them.
bool Executor::empty_for_reuse(const fs::path& dir, EmptyStamp& stamp) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  // The common case (a task that left nothing, on tmpfs): four system calls, no descriptor.
  if (stamp.known && looks_as_left(dir, stamp.top) && looks_as_left(dir / ".zbuild-tmp", stamp.tmp)) return true;
  int fd = ::open(dir.c_str(), kFlags);
  if (fd < 0) return false;
  struct stat top {}, tmp_st {};
  int tmp = reset_folder(fd, top) ? ::openat(fd, ".zbuild-tmp", kFlags) : -1;
  if (tmp < 0 || !reset_folder(tmp, tmp_st)) {
    if (tmp >= 0) ::close(tmp);
    ::close(fd);
    stamp.known = false;
    return false;
  }
  if (stamp.known && stamp.top == stamp_of(top) && stamp.tmp == stamp_of(tmp_st)) {
    ::close(tmp);
    ::close(fd);
    return true;
  }
  listings_++;
  // remove_entries_at takes the descriptor it is given: copies, so the emptied folders can be
  // looked at after.
  int tmp_copy = ::fcntl(tmp, F_DUPFD_CLOEXEC, 0);
  int fd_copy = tmp_copy < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  bool ok = fd_copy >= 0;
  if (ok) {
    bool tmp_emptied = remove_entries_at(tmp_copy, nullptr);
    ok = remove_entries_at(fd_copy, ".zbuild-tmp") && tmp_emptied;
  } else if (tmp_copy >= 0) {
    ::close(tmp_copy);
  }
  struct statfs sf {};
  stamp.known = ok && ::fstatfs(fd, &sf) == 0 && static_cast<unsigned long>(sf.f_type) == TMPFS_MAGIC &&
                ::fstat(fd, &top) == 0 && ::fstat(tmp, &tmp_st) == 0;
  if (stamp.known) {
    stamp.top = stamp_of(top);
    stamp.tmp = stamp_of(tmp_st);
  }
  ::close(tmp);
  ::close(fd);
  return ok;
}

void Executor::cancel_all() { watch_.cancel(); }

void Executor::cleanup(const ExecResult& r) {
  if (r.sandbox.empty()) return;
  if (r.reuse) {
    EmptyStamp stamp;
    {
      std::lock_guard lock(ready_mu_);
      stamp = stamps_[r.sandbox];
    }
    bool emptied = empty_for_reuse(r.sandbox, stamp);
    std::lock_guard lock(ready_mu_);
    stamps_[r.sandbox] = stamp;
    if (emptied) {
      ready_.insert(r.sandbox);
      return;
    }
  }
  std::error_code ec;
  fs::remove_all(r.sandbox, ec);
}

}  // namespace zbuild::worker
