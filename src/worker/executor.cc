#include "worker/executor.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

#include "common/subprocess.h"

namespace zbuild::worker {

namespace fs = std::filesystem;

bool Executor::is_c_compiler(const std::string& argv0) {
  std::string base = argv0.substr(argv0.rfind('/') + 1);
  // gcc, g++, cc, c++, clang, clang++, with target prefixes and version suffixes.
  for (const char* name : {"gcc", "g++", "clang", "clang++", "cc", "c++"}) {
    std::string n = name;
    auto pos = base.find(n);
    if (pos == std::string::npos) continue;
    bool left_ok = pos == 0 || base[pos - 1] == '-';
    size_t end = pos + n.size();
    bool right_ok = end == base.size() || base[end] == '-';
    if (left_ok && right_ok) return true;
  }
  return false;
}

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
  bool compiles = std::any_of(a.argv.begin(), a.argv.end(), [](auto& s) { return s == "-c" || s == "-S"; });
  if (!argv.empty() && is_c_compiler(a.argv[0]) && compiles && !a.root.empty()) {
    argv.insert(argv.begin() + 1, "-ffile-prefix-map=" + sandbox + "=" + a.root);
  }
  return argv;
}

bool program_allowed(const SandboxPolicy& p, const std::string& argv0, std::string* why) {
  if (p.allow_any) return true;
  std::string base = argv0.substr(argv0.rfind('/') + 1);
  static const std::set<std::string> kTools = {"ar", "ranlib", "ld", "ld.bfd", "ld.gold", "ld.lld", "as",
                                               "strip", "objcopy", "nm", "gcc-ar", "gcc-ranlib"};
  if (Executor::is_c_compiler(argv0) || kTools.count(base) || p.allowed.count(base) || p.allowed.count(argv0)) {
    return true;
  }
  if (why) {
    *why = "zbuild-worker: program '" + argv0 + "' is not allow-listed on this worker (it runs the C/C++ toolchain; "
           "the operator adds others with --allow-program NAME)\n";
  }
  return false;
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

// The command wrapped in the sandbox: bubblewrap with only `sb` writable (everything else,
// the toolchain included, read-only or absent), no network; and an address-space limit.
// With bubblewrap the sandbox is mounted at the client's exec root itself, so the command sees
// exactly the paths it would see on the submitting host (debug info, rpaths, __FILE__ need no
// mapping); without it the sandbox stands in for the root and argv is mapped.
static std::vector<std::string> sandboxed(const SandboxPolicy& p, const std::vector<std::string>& argv,
                                          const std::string& sb, const std::string& mount_at,
                                          const std::string& cwd) {
  std::vector<std::string> out;
  if (p.memory_limit_mb > 0) {
    out = {"prlimit", "--as=" + std::to_string(p.memory_limit_mb * 1024 * 1024), "--"};
  }
  if (p.use_bwrap) {
    std::vector<std::string> b = {p.bwrap, "--unshare-all", "--die-with-parent", "--new-session",
                                  "--ro-bind", "/usr", "/usr",
                                  "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                                  "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                                  "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
                                  "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
                                  "--ro-bind-try", "/opt", "/opt",
                                  "--proc", "/proc", "--dev", "/dev",
                                  "--bind", sb, mount_at, "--remount-ro", "/", "--chdir", cwd, "--"};
    out.insert(out.end(), b.begin(), b.end());
  }
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

ExecResult Executor::run(const ActionSpec& a, const std::string& name) {
  ExecResult r;
  std::string refusal;
  if (!program_allowed(policy_, a.argv[0], &refusal)) {
    r.exit_code = 126;
    r.err = refusal;
    return r;
  }
  auto hc = hosts_.check(a.host_files);
  if (!hc.ok()) {
    r.infra_error = hc.error().message;
    return r;
  }
  fs::path sb = sandbox_root_ / name;
  r.sandbox = sb;
  std::error_code ec;
  fs::remove_all(sb, ec);
  fs::create_directories(sb, ec);
  if (ec) {
    r.infra_error = "sandbox " + sb.string() + ": " + ec.message();
    return r;
  }
  for (auto& in : a.inputs) {
    fs::path dst = sb / in.path;   // in.path was checked relative and non-escaping
    fs::create_directories(dst.parent_path(), ec);
    fs::copy_file(cache_.path(in.digest), dst, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      r.infra_error = "sandbox: cannot place input '" + in.path + "': " + ec.message();
      return r;
    }
    ::chmod(dst.c_str(), in.executable ? 0755 : 0644);
  }
  for (auto& o : a.outputs) fs::create_directories((sb / o).parent_path(), ec);
  fs::create_directories(sb / a.cwd, ec);
  fs::create_directories(sb / ".zbuild-tmp", ec);

  ProcessSpec ps;
  ps.cwd = (sb / a.cwd).lexically_normal().string();
  bool at_root = policy_.use_bwrap && a.root.size() > 1 && a.root[0] == '/' && !a.root.starts_with("/usr") &&
                 !a.root.starts_with("/proc") && !a.root.starts_with("/dev");
  if (at_root) {
    std::string inner_cwd = (fs::path(a.root) / a.cwd).lexically_normal().string();
    while (inner_cwd.size() > 1 && inner_cwd.back() == '/') inner_cwd.pop_back();   // gcc records it as given
    ps.argv = sandboxed(policy_, a.argv, sb.string(), a.root, inner_cwd);
  } else {
    ps.argv = sandboxed(policy_, map_argv(a, sb.string()), sb.string(), sb.string(), ps.cwd);
  }
  ps.use_env = true;
  const char* path = std::getenv("PATH");
  ps.env.push_back(std::string("PATH=") + (path ? path : "/usr/local/bin:/usr/bin:/bin"));
  ps.env.push_back("HOME=" + (at_root ? a.root : sb.string()));
  // The only writable place is the sandbox (mounted at the root under bubblewrap): temp files too.
  ps.env.push_back("TMPDIR=" + (at_root ? (fs::path(a.root) / ".zbuild-tmp").string() : (sb / ".zbuild-tmp").string()));
  for (auto& e : a.env) {
    auto eq = e.find('=');
    std::string key = e.substr(0, eq);
    ps.env.erase(std::remove_if(ps.env.begin(), ps.env.end(), [&](auto& x) { return x.rfind(key + "=", 0) == 0; }),
                 ps.env.end());
    ps.env.push_back(e);
  }
  ps.timeout_ms = a.timeout_ms;
  ps.output_cap = 4u << 20;
  auto pr = run_process(ps);
  if (!pr.ok()) {
    r.infra_error = "cannot start: " + pr.error().message;
    return r;
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
  if (r.exit_code != 0) return r;
  for (auto& o : a.outputs) {
    fs::path f = sb / o;
    struct stat st {};
    if (::lstat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      r.exit_code = 1;
      r.err += "zbuild: declared output '" + o + "' was not produced as a regular file\n";
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

void Executor::cleanup(const ExecResult& r) {
  if (r.sandbox.empty()) return;
  std::error_code ec;
  fs::remove_all(r.sandbox, ec);
}

}  // namespace zbuild::worker
