#include "runner/runner.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <unordered_map>

#include "common/address.h"
#include "common/clock.h"
#include "common/command_policy.h"
#include "common/fs.h"
#include "common/make_deps.h"
#include "common/paths.h"
#include "common/subprocess.h"
#include "common/text.h"
#include "common/toolchain_probe.h"
#include "proto/root_free.h"
#include "runner/cmdline.h"
#include "runner/diagnostics.h"
#include "runner/discovery.h"
#include "runner/manifest.h"
#include "runner/session.h"
#include "common/stat_cache.h"
#include "scan/compiler_facts.h"
#include "scan/file_cache.h"
#include "scan/include_scan.h"

namespace zbuild::runner {

namespace fs = std::filesystem;

namespace {

const char* const kHelp =
    "usage: zbuild-cc COMPILER ARGS...     (or through a link named gcc, g++, cc, c++, clang, clang++)\n"
    "\n"
    "Runs a C/C++ compile on the workers of a zbuild daemon and behaves as the local compile:\n"
    "same stdout, stderr, exit code, object and depfile. Anything other than a single-source\n"
    "compile runs the compiler locally, unchanged. Use it as CMAKE_<LANG>_COMPILER_LAUNCHER or\n"
    "CC=\"zbuild-cc gcc\". The daemon is $ZBUILD_DAEMON, else the nearest .zbuild-daemon file\n"
    "above the current directory (zbuild daemon --workspace), else ~/.config/zbuild/daemon,\n"
    "else 127.0.0.1:7600. With no daemon it compiles locally and warns once per build.\n"
    "zbuild-cc has no options of its own (its arguments are the compile's); the environment:\n"
    "  ZBUILD_DAEMON=HOST:PORT  the daemon\n"
    "  ZBUILD_ROOT=DIR          the exec root, absolute (default: the workspace directory, else\n"
    "                           the deepest directory holding the source, object and cwd)\n"
    "  ZBUILD_FALLBACK=0        no daemon is an error (exit status 1), not a local compile\n"
    "  ZBUILD_TIMEOUT=SECONDS   the task's timeout on the worker (default 600)\n"
    "  ZBUILD_STAT_CACHE=FILE   the per-user stat cache file, or off\n"
    "  ZBUILD_LOG=FILE          append one line per compile: what happened and where time went\n"
    "  ZBUILD_SCAN=compiler     find headers with the compiler's -M, not the in-process scanner\n"
    "  ZBUILD_SCAN_CACHE=DIR    where the scanner keeps what it asked the compiler and the headers\n"
    "                           it lexed, or off\n"
    "  ZBUILD_KEEP_ROOT_PATHS=1 compile without -ffile-prefix-map=ROOT=. (added by default, here and\n"
    "                           on the workers, so every checkout shares the cache): objects\n"
    "                           byte-identical to a plain compile in place, cached per root\n"
    "More: docs/runner.md.\n";



struct Invocation {
  std::string compiler;              // resolved path of the real compiler
  std::vector<std::string> argv;     // compiler path first
};

bool is_masquerade_name(const std::string& n) {
  return n == "gcc" || n == "g++" || n == "cc" || n == "c++" || n == "clang" || n == "clang++";
}

std::string self_path() {
  std::error_code ec;
  return fs::canonical("/proc/self/exe", ec).string();
}

[[noreturn]] void exec_local(const Invocation& inv) {
  std::vector<char*> args;
  for (auto& a : inv.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  ::execv(inv.compiler.c_str(), args.data());
  std::fprintf(stderr, "zbuild-cc: cannot run %s: %s\n", printable(inv.compiler).c_str(), std::strerror(errno));
  std::_Exit(127);
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string absolute(const std::string& cwd, const std::string& p) {
  if (p.size() && p[0] == '/') return is_normal_absolute(p) ? p : fs::path(p).lexically_normal().string();
  std::string joined = cwd + "/" + p;   // the scan names most headers cwd-relative and plainly
  return is_normal_absolute(joined) ? joined : (fs::path(cwd) / p).lexically_normal().string();
}

bool env_set(const char* k) {
  const char* v = std::getenv(k);
  return v && *v;
}

// What a remote compile's object is called on the worker (Compile::remote_argv_as): this and
// 16 hex digits of its command and source.
const char* const kObjectAs = "zbuild-cc-object-";

class Runner {
 public:
  Runner(Invocation inv, Compile c, std::string cwd)
      : inv_(std::move(inv)), c_(std::move(c)), cwd_(std::move(cwd)), stats_(default_stat_cache_path()) {}

  int run() {
    t0_ = last_mark_ = mono_us();
    loc_ = find_daemon(cwd_);
    if (!loc_.ignored.empty() && first_fallback_in_build("ignored|" + loc_.ignored)) {
      std::fprintf(stderr, "zbuild-cc: warning: %s (said once per build)\n", printable(loc_.ignored).c_str());
    }
    mark("find");
    auto addr = parse_address(loc_.daemon);
    src_ = absolute(cwd_, c_.source);
    obj_ = absolute(cwd_, c_.object);
    if (c_.deps.md) dep_ = absolute(cwd_, c_.depfile_path());
    root_ = choose_root(loc_, {cwd_, src_, obj_});
    if (root_.empty() || !is_under(root_, cwd_) || !is_under(root_, src_) || !is_under(root_, obj_)) {
      local("no exec root holds the working directory, the source and the object (set ZBUILD_ROOT)");
    }
    // From here on every run of this compile, remote or local, maps the root to "." (one
    // object for every checkout), unless told to keep the root's paths.
    if (!keep_root_paths()) add_root_prefix_map(inv_.argv, root_);
    if (!addr.ok()) fallback(addr.error().message + " (from " + loc_.source + ")");
    if (is_under(root_, inv_.compiler)) local("the compiler lies under the exec root");
    // gcc does not create directories: a missing one is the local compile's error to report.
    if (!fs::is_directory(fs::path(obj_).parent_path()) || (!dep_.empty() && !fs::is_directory(fs::path(dep_).parent_path()))) {
      local("the object's or depfile's directory does not exist");
    }
    // zbuild-cc writes below the root only: an object folder that is a link leading out of it
    // is the local compile's to write through, as the user's command asks.
    guard_.emplace(root_);
    for (const std::string* out : {&obj_, &dep_}) {
      if (out->empty() || !is_under(root_, *out)) continue;
      if (auto st = guard_->check_folder(rel(fs::path(*out).parent_path().string())); !st.ok()) local(st.error().message);
    }
    mark("root");
    auto cc = stats_.digest(inv_.compiler);
    if (!cc.ok()) local(cc.error().message);
    mark("ccdigest");
    compiler_digest_ = cc.value();
    for (auto& e : cmd::compiler_env()) env_.push_back(e);
    std::string key = manifest_key();
    mark("setup");
    session_ = std::make_unique<Session>(addr.value());
    auto stored = session_->open(key, 3000);
    if (!stored.ok()) fallback("no zbuild daemon answers at " + loc_.daemon + " (" + stored.error().message + ")");
    mark("manifest");
    bool hit = false;
    std::vector<Manifest> known;   // the records stored for this key, newest first
    if (stored.value()) {
      auto ms = decode_manifest(*stored.value());
      if (ms.ok()) known = std::move(ms.value());
    }
    for (const auto& m : known) {
      if (still_valid(m)) {
        manifest_ = m;
        hit = true;
        break;
      }
    }
    if (!hit) scan();
    mark(hit ? "validate" : "scan");
    // Files under the root are shipped: one that is a link, or lies in a folder that is one,
    // leading out of the root is not (it would send that file to the workers).
    for (auto& e : manifest_.files) {
      if (e.kind != 'R') continue;
      if (auto st = guard_->check(e.path); !st.ok()) {
        refuse("input " + st.error().message + ": not shipped to a worker");
      }
    }
    ActionSpec a = action();
    std::vector<std::pair<Digest, std::string>> sources;
    for (auto& in : a.inputs) sources.emplace_back(in.digest, root_ + "/" + in.path);
    // A worker whose files differ from this host's fetches the toolchain and the headers: the
    // tree goes with the sources, its files and the headers only when a worker asks.
    std::vector<std::pair<Digest, std::string>> on_demand;
    for (auto& h : a.host_files) on_demand.emplace_back(h.digest, h.path);
    if (tree_) {
      sources.emplace_back(a.toolchain, tree_file_);
      for (auto& e : tree_->entries) {
        if (e.kind == 'f' || e.kind == 'x') on_demand.emplace_back(e.digest, e.path);
      }
    }
    auto r = session_->run(a, rel(obj_), sources, hit ? manifest_.object : Digest{}, on_demand);
    mark("run");
    if (!r.ok()) fallback(r.error().message);
    TaskOutcome& o = r.value();
    // Store the manifest (new, or with a different object) with the object this compile made.
    Digest made;
    for (auto& out : o.outputs) {
      if (out.path == a.outputs[0] && o.kind != TaskOutcome::Kind::Failed) made = out.digest;
    }
    if (!hit || made != manifest_.object) {
      manifest_.object = made;
      session_->put_manifest(key, encode_manifest(add_manifest_record(manifest_, known)));
    }
    if (o.kind == TaskOutcome::Kind::Infra) fallback("the daemon could not run the compile: " + o.message);
    if (o.kind != TaskOutcome::Kind::Failed) {
      auto out = std::find_if(o.outputs.begin(), o.outputs.end(), [&](auto& x) { return x.path == a.outputs[0]; });
      if (out == o.outputs.end()) fallback("the daemon's result lacks the object " + a.outputs[0]);
      auto d = session_->download(*out, root_, rel(obj_));
      if (!d.ok()) fallback(d.error().message);
    }
    mark("download");
    if (c_.deps.md && manifest_.has_depfile) {
      // A depfile the command puts outside the root is written where it says, as gcc would.
      auto w = is_under(root_, dep_) ? write_file_under_root(root_, rel(dep_), manifest_.depfile)
                                     : write_file_atomic(dep_, manifest_.depfile);
      if (!w.ok()) {
        std::fprintf(stderr, "zbuild-cc: %s\n", printable(w.error().message).c_str());
        return 1;
      }
    }
    o.out = with_root(o.out, root_);   // a root-free compile's messages name the root by a placeholder
    o.err = with_root(o.err, root_);
    std::vector<std::string> rels{a.outputs[0], rel(obj_)};
    for (auto& in : a.inputs) rels.push_back(in.path);
    std::vector<std::string> hosts;
    for (auto& h : a.host_files) hosts.push_back(h.path);
    std::string prefix = find_sandbox_prefix(o.err, root_, rels, hosts);
    if (prefix.empty()) prefix = find_sandbox_prefix(o.out, root_, rels, hosts);
    write_all(1, replace_prefix(o.out, prefix, root_));
    write_all(2, replace_prefix(o.err, prefix, root_));
    stats_.flush();
    const char* what = o.kind == TaskOutcome::Kind::Cached ? "cached" : o.kind == TaskOutcome::Kind::Done ? "done" : "failed";
    trace(std::string(what) + " " + (hit ? "manifest-hit" : "scanned " + scan_how_));
    return o.kind == TaskOutcome::Kind::Failed ? (o.exit_code ? o.exit_code : 1) : 0;
  }

 private:
  std::string rel(const std::string& abs) const {
    auto r = relative_to_root(root_, ".", abs, "path");
    return r.ok() ? r.value() : abs;
  }

  static bool keep_root_paths() {
    const char* v = std::getenv("ZBUILD_KEEP_ROOT_PATHS");
    return v && *v && std::string(v) != "0";
  }

  // Runs the compiler here, unchanged (but for the root's prefix map, once the root is
  // chosen), without a word (not something zbuild-cc ships).
  [[noreturn]] void local(const std::string& why) {
    trace("local " + why);
    stats_.flush();
    exec_local(inv_);
  }

  // Runs it here because the daemon could not: says so once per build, or fails when
  // ZBUILD_FALLBACK=0. `once` keys the "once" (default: one warning per build and daemon).
  [[noreturn]] void fallback(const std::string& why, const std::string& once = "") {
    trace("fallback " + why);
    stats_.flush();
    if (const char* f = std::getenv("ZBUILD_FALLBACK"); f && std::string(f) == "0") {
      std::fprintf(stderr, "zbuild-cc: error: %s (ZBUILD_FALLBACK=0: not compiling locally)\n", printable(why).c_str());
      std::exit(1);
    }
    if (first_fallback_in_build(once.empty() ? loc_.daemon : loc_.daemon + "|" + once)) {
      std::fprintf(stderr, "zbuild-cc: warning: %s; compiling locally (said once per build)\n", printable(why).c_str());
    }
    exec_local(inv_);
  }

  // A compile zbuild-cc will not ship (an input it may not send): compiled here by the
  // fallback rules, said once per build for each such reason.
  [[noreturn]] void refuse(const std::string& why) { fallback(why, why); }

  void mark(const char* phase) {
    if (!std::getenv("ZBUILD_LOG")) return;
    int64_t t = mono_us();
    phases_ += std::string(" ") + phase + "=" + std::to_string(t - last_mark_);
    last_mark_ = t;
  }

  // ZBUILD_LOG=FILE: one line per invocation (what happened and how long it took), for tests
  // and benchmarks.
  void trace(const std::string& what) {
    const char* path = std::getenv("ZBUILD_LOG");
    if (!path || !*path) return;
    long hwm_kb = 0;   // peak resident set so far (VmHWM)
    if (auto status = read_file("/proc/self/status"); status.ok()) {
      auto pos = status.value().find("VmHWM:");
      if (pos != std::string::npos) hwm_kb = std::atol(status.value().c_str() + pos + 6);
    }
    auto cpu_us = [](int who) {
      rusage r {};
      ::getrusage(who, &r);
      return static_cast<long long>((r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000LL + r.ru_utime.tv_usec +
                                    r.ru_stime.tv_usec);
    };
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  " stat-hits=%llu hashed=%llu headers-lexed=%llu headers-cached=%llu headers-packed=%llu rss-kb=%ld cpu-us=%lld scan-cpu-us=%lld "
                  "us=%lld\n",
                  static_cast<unsigned long long>(stats_.hits()), static_cast<unsigned long long>(stats_.hashed()),
                  static_cast<unsigned long long>(headers_lexed_), static_cast<unsigned long long>(headers_cached_), static_cast<unsigned long long>(headers_packed_),
                  hwm_kb, cpu_us(RUSAGE_SELF), cpu_us(RUSAGE_CHILDREN), static_cast<long long>(mono_us() - t0_));
    std::string line = "zbuild-cc " + c_.object + " " + what + phases_ + buf;
    int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    write_all(fd, line);
    ::close(fd);
  }

  std::string manifest_key() {
    Hasher h;
    h.field("zbuild-cc-manifest-1");
    h.field(c_.argv.size());
    for (auto& s : c_.argv) h.field(s);
    h.field(cwd_);
    h.field(root_);
    h.field(keep_root_paths() ? "keep-root-paths" : "root-free");
    for (auto& e : env_) h.field(e);
    h.field(compiler_digest_.str());
    auto sd = root_digest(rel(src_));
    h.field(sd.ok() ? sd.value().str() : std::string("?"));
    return h.finish().hex();
  }

  Result<Digest> root_digest(const std::string& relpath) {
    auto it = memo_.find(relpath);
    if (it != memo_.end()) return it->second;
    auto d = hash_file(root_ + "/" + relpath);
    if (d.ok()) memo_.emplace(relpath, d.value());
    return d;
  }

  bool still_valid(const Manifest& m) {
    if (c_.deps.md && !m.has_depfile) return false;
    for (auto& e : m.files) {
      auto d = e.kind == 'R' ? root_digest(e.path) : stats_.digest(e.path);
      if (!d.ok() || d.value() != e.digest) return false;
    }
    return true;
  }

  // The headers to ship and the depfile to write: found in-process (scan/include_scan.h), or by
  // the compiler's -M when the scanner cannot follow this compile (it says why in ZBUILD_LOG).
  // ZBUILD_SCAN=compiler: always the compiler.
  void scan() {
    if (builtin_scan()) return;
    compiler_scan();
  }

  bool builtin_scan() {
    if (!scan::builtin_scan_enabled()) {
      scan_how_ = "compiler(ZBUILD_SCAN)";
      return false;
    }
    auto gave_up = [&](const std::string& why) {
      scan_how_ = "compiler(" + why + ")";
      for (auto& c : scan_how_) if (c == ' ' || c == '\n') c = '_';
      return false;
    };
    if (c_.lang == Lang::Preprocessed) return gave_up("preprocessed source");
    auto o = scan::scan_options(c_.argv, c_.source);
    if (!o.unsupported.empty()) return gave_up(o.unsupported);
    std::string cache_dir = scan::facts_cache_dir();
    auto facts = scan::compiler_facts(o, cwd_, compiler_digest_.str(), cache_dir);
    if (!facts.ok()) return gave_up(facts.error().message);
    mark("facts");
    auto req = scan::scan_request(std::move(o), std::move(facts.value()), cwd_);
    // Headers lexed by an earlier zbuild-cc are not lexed again. Kept until the process ends.
    files_ = std::make_unique<scan::DiskFiles>(cache_dir);
    scan::DiskFiles& files = *files_;
    if (auto* fc = files.cache()) fc->use_pack(pack_key(req));
    auto r = scan::scan_includes(req, files);
    if (auto* fc = files.cache()) fc->save_pack();
    headers_lexed_ = files.lexed();
    headers_cached_ = files.from_cache();
    headers_packed_ = files.cache() ? files.cache()->pack_hits() : 0;
    if (!r.gave_up.empty()) return gave_up(r.gave_up);
    std::map<std::string, ManifestEntry> entries;
    std::vector<std::string> prereqs;
    for (auto& f : r.files) {
      std::string abs = absolute(cwd_, f.path);
      if (!c_.deps.md || c_.deps.system || !f.system) prereqs.push_back(f.path);
      if (entries.count(abs)) continue;
      auto e = entry_for(abs, files.stamp(abs));
      if (!e.ok()) return gave_up(e.error().message);
      entries.emplace(abs, std::move(e.value()));
    }
    manifest_.files.clear();
    for (auto& [_, e] : entries) manifest_.files.push_back(std::move(e));
    manifest_.has_depfile = c_.deps.md;
    manifest_.depfile.clear();
    if (c_.deps.md) {
      std::vector<std::string> targets;
      if (c_.deps.targets.empty()) targets.push_back(make_quote(c_.object));
      for (auto& [opt, v] : c_.deps.targets) targets.push_back(opt == "-MQ" ? make_quote(v) : v);
      manifest_.depfile = make_deps_rule(targets, prereqs, c_.deps.phony);
    }
    scan_how_ = "builtin";
    return true;
  }

  // Which pack of lexed headers this scan reads (scan/file_cache.h): compiles with the same
  // compiler, search chains and source folder read mostly the same headers.
  std::string pack_key(const scan::ScanRequest& req) const {
    std::string k = compiler_digest_.str() + "\n" + fs::path(src_).parent_path().string() + "\n";
    for (auto& q : req.paths.quote) k += "q " + q + "\n";
    for (auto& b : req.paths.bracket) k += "b " + b + "\n";
    return k;
  }

  // A file the compile reads: shipped (under the root) or checked on the worker (outside).
  // `seen`: what the scan's stat of it said, if it made one.
  Result<ManifestEntry> entry_for(const std::string& abs, const std::optional<scan::FileStamp>& seen = std::nullopt) {
    ManifestEntry e;
    if (is_under(root_, abs)) {
      e.kind = 'R';
      e.path = rel(abs);
      auto d = root_digest(e.path);
      if (!d.ok()) return d.error();
      e.digest = d.value();
    } else {
      e.kind = 'H';
      e.path = abs;
      auto d = seen ? stats_.digest_stamped(abs, StatCache::Entry{seen->dev, seen->ino, seen->size, seen->mtime_ns,
                                                                    seen->ctime_ns, Digest{}})
                    : stats_.digest(abs);
      if (!d.ok()) return d.error();
      e.digest = d.value();
    }
    return e;
  }

  // The preprocessor, here, with -M.
  void compiler_scan() {
    std::string tmpdir = env_set("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    std::string tmpl = tmpdir + "/zbuild-cc-XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) local("cannot create a temp file in " + tmpdir);
    ::close(fd);
    ProcessSpec ps;
    ps.argv = c_.scan_argv(tmpl);
    ps.cwd = cwd_;
    auto r = run_process(ps);
    auto text = read_file(tmpl);
    ::unlink(tmpl.c_str());
    // A failing scan means a failing compile: the local compile prints its errors exactly.
    if (!r.ok() || r.value().exit_code != 0 || !text.ok()) local("the header scan failed");
    std::vector<std::string> deps = depfile_inputs(text.value());
    if (c_.deps.md && !c_.deps.system) {
      for (auto& p : parse_dash_h(r.value().err)) deps.push_back(p);
    }
    std::map<std::string, ManifestEntry> files;
    for (auto& dep : deps) {
      std::string abs = absolute(cwd_, dep);
      if (files.count(abs)) continue;
      auto e = entry_for(abs);
      if (!e.ok()) local(e.error().message);
      files.emplace(abs, std::move(e.value()));
    }
    manifest_.files.clear();
    for (auto& [_, e] : files) manifest_.files.push_back(std::move(e));
    manifest_.has_depfile = c_.deps.md;
    manifest_.depfile = c_.deps.md ? std::move(text.value()) : std::string();
  }

  bool want_color() const {
    if (!c_.color_auto || !::isatty(2)) return false;
    const char* term = std::getenv("TERM");
    const char* colors = std::getenv("GCC_COLORS");
    return term && std::strcmp(term, "dumb") != 0 && !(colors && !*colors);
  }

  ActionSpec action() {
    ActionSpec a;
    // The object under a name of the command (but for -o) and the source, not of the object
    // (Compile::remote_argv_as); written where the command says when it comes back. Not one
    // name for all: builds running at once claim their outputs, and only the same action may
    // claim a name another build holds.
    auto sd = root_digest(rel(src_));
    std::string object_as =
        c_.object_name(want_color(), kObjectAs, root_, rel(cwd_), sd.ok() ? sd.value().str() : std::string("?"))
            .value_or(std::string());
    auto as = object_as.empty() ? std::nullopt : c_.remote_argv_as(want_color(), object_as);
    a.argv = as ? std::move(*as) : c_.remote_argv(want_color());
    if (!keep_root_paths()) add_root_prefix_map(a.argv, root_);
    a.env = env_;
    std::sort(a.env.begin(), a.env.end());
    a.cwd = rel(cwd_);
    a.root = root_;
    a.outputs.push_back(as ? rel(absolute(cwd_, object_as)) : rel(obj_));
    a.host_files.push_back(HostFileSpec{inv_.compiler, compiler_digest_});
    if (!tree_) {
      if (auto t = toolchain::cached(inv_.compiler); t.ok()) {
        tree_file_ = toolchain::tree_file(t.value());
        if (!tree_file_.empty()) tree_ = std::move(t.value());
      }
    }
    if (tree_) a.toolchain = tree_->digest();
    for (auto& e : manifest_.files) {
      if (e.kind == 'H') a.host_files.push_back(HostFileSpec{e.path, e.digest});
      else a.inputs.push_back(InputSpec{e.path, e.digest, is_executable_file(root_ + "/" + e.path), 0, {}});
    }
    auto by_path = [](auto& x, auto& y) { return x.path < y.path; };
    auto same_path = [](auto& x, auto& y) { return x.path == y.path; };
    std::sort(a.inputs.begin(), a.inputs.end(), by_path);
    a.inputs.erase(std::unique(a.inputs.begin(), a.inputs.end(), same_path), a.inputs.end());
    std::sort(a.host_files.begin(), a.host_files.end(), by_path);
    a.host_files.erase(std::unique(a.host_files.begin(), a.host_files.end(), same_path), a.host_files.end());
    if (const char* t = std::getenv("ZBUILD_TIMEOUT"); t && std::atoi(t) > 0) a.timeout_ms = int64_t{std::atoi(t)} * 1000;
    return a;
  }

  Invocation inv_;
  std::optional<toolchain::Tree> tree_;   // the compiler's toolchain (none: runs where files match)
  std::string tree_file_;
  Compile c_;
  std::string cwd_;
  StatCache stats_;
  Location loc_;
  std::optional<RootGuard> guard_;   // of root_, once it is chosen
  std::string src_, obj_, dep_, root_;
  std::unique_ptr<Session> session_;
  Digest compiler_digest_;
  std::vector<std::string> env_;
  Manifest manifest_;
  std::string scan_how_;   // "builtin", or "compiler(why)"
  uint64_t headers_lexed_ = 0, headers_cached_ = 0;   // by the builtin scan: read and lexed, or from its cache
  uint64_t headers_packed_ = 0;                         // of those from its cache, how many from the pack
  std::unordered_map<std::string, Digest> memo_;
  std::unique_ptr<scan::DiskFiles> files_;   // the builtin scan's files and cache
  int64_t t0_ = 0;
  int64_t last_mark_ = 0;
  std::string phases_;
};

}  // namespace

const char* help_text() { return kHelp; }

int run_zbuild_cc(int argc, char** argv) {
  std::string self = self_path();
  std::string name = fs::path(argv[0]).filename().string();
  Invocation inv;
  int first = 1;
  std::string wanted;
  if (is_masquerade_name(name)) {
    wanted = name;
  } else {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
      std::fputs(kHelp, argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
    wanted = argv[1];
    first = 2;
  }
  inv.compiler = find_in_path(wanted, self);
  if (!inv.compiler.empty() && inv.compiler[0] != '/') inv.compiler = absolute(current_dir(), inv.compiler);
  if (inv.compiler.empty() || ::access(inv.compiler.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "zbuild-cc: compiler '%s' not found%s\n", printable(wanted).c_str(),
                 wanted.find('/') == std::string::npos ? " in PATH" : "");
    return 127;
  }
  inv.argv.push_back(inv.compiler);
  for (int i = first; i < argc; ++i) inv.argv.push_back(argv[i]);

  std::string cwd = current_dir();
  Analysis an = analyze(inv.argv, cwd);
  bool env_local = std::any_of(cmd::local_only_env_names().begin(), cmd::local_only_env_names().end(),
                               [](std::string_view k) { return env_set(std::string(k).c_str()); });
  if (!an.remote || env_local) exec_local(inv);
  // Never destroyed: the process ends after this compile (main() flushes and _exits), and
  // freeing what the scan built, tens of thousands of heap blocks, cost about 5% of the
  // client's CPU a compile.
  auto* r = new Runner(std::move(inv), std::move(an.compile), std::move(cwd));
  return r->run();
}

}  // namespace zbuild::runner
