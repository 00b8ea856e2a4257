#include "client/submit.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "client/connection.h"
#include "client/headers.h"
#include "client/local_slot.h"
#include "client/metrics.h"
#include "client/object_names.h"
#include "client/outputs.h"
#include "client/progress.h"
#include "client/silence.h"
#include "client/trace.h"
#include "client/status.h"
#include "common/clock.h"
#include "common/command_policy.h"
#include "common/fs.h"
#include "common/make_deps.h"
#include "common/paths.h"
#include "common/subprocess.h"
#include "common/text.h"
#include "common/toolchain_probe.h"
#include "graph/graph.h"
#include "proto/root_free.h"
#include "proto/wire.h"
#include "scan/compiler_facts.h"
#include "scan/include_scan.h"

namespace zbuild::client {

namespace fs = std::filesystem;
namespace fbs = flatbuffers;

namespace {


// Where a task's program is: a bare name is looked up in the client's PATH; a path is taken
// relative to the task's folder. Absolute and lexically normal; empty when not found.
std::string resolve_program(const graph::Graph& g, const graph::Task& t) {
  const std::string& prog = t.argv[0];
  if (prog.find('/') == std::string::npos) {
    std::string found = find_in_path(prog);
    return found.empty() ? found : fs::absolute(found).lexically_normal().string();
  }
  fs::path p = fs::path(prog).is_absolute() ? fs::path(prog) : (g.root / t.cwd / prog);
  return p.lexically_normal().string();
}

// What the client itself runs for a graph is the header scan of each C/C++ compile: checked
// before anything is contacted. Per task, the compile to scan (response files expanded, no
// option that runs another program or loads code, a compiler that is not a file of the tree),
// or empty when the task is not scanned.
Result<std::vector<std::vector<std::string>>> checked_scans(const graph::Graph& g) {
  std::vector<std::vector<std::string>> out(g.tasks.size());
  for (size_t i = 0; i < g.tasks.size(); ++i) {
    const auto& t = g.tasks[i];
    auto c = checked_scan_compile(t.argv, (g.root / t.cwd).lexically_normal().string());
    if (!c.ok()) return make_error("task '" + t.id + "': " + c.error().message + "; not run (the header scan would run it here)");
    if (c.value().empty()) continue;
    std::string prog = resolve_program(g, t);
    if (!prog.empty() && is_under(g.root, prog)) {
      return make_error("task '" + t.id + "': compiler '" + t.argv[0] + "' lies under the root " + g.root.string() +
                        ": zbuild does not run a file of the tree to scan headers (nor does a worker)");
    }
    out[i] = std::move(c.value());
    if (!prog.empty()) out[i][0] = prog;
  }
  return out;
}

struct Prepared {
  std::vector<ActionSpec> actions;
  std::map<Digest, std::string> trees;   // toolchain tree digest -> its encoding (uploaded as a blob)
  std::map<Digest, std::string> host_blobs;   // digest -> absolute path of a toolchain file or system header
  std::vector<std::vector<uint32_t>> deps;
  uint64_t scans = 0;
  uint64_t builtin_scans = 0;   // of `scans`, found by the in-process scanner
  uint64_t manifest_hits = 0;
  // Per task: where its action writes its object when named after its command
  // (client/object_names.h); empty: where the task declares it.
  std::vector<std::string> object_as;
};

// The scanner's view of a graph's files: the disk, and the files the graph's tasks will make —
// a generated header not made yet is found where the graph puts it and read as empty (what
// the compiler's -MG does with it).
class GraphFiles : public scan::FileSource {
 public:
  explicit GraphFiles(const graph::Graph& g) : g_(g), disk_(scan::facts_cache_dir()) {}
  std::optional<Id> find(const std::string& path) override {
    if (auto id = disk_.find(path)) return id;
    fs::path p = fs::path(path).lexically_normal();
    if (!is_under(g_.root, p)) return std::nullopt;
    auto rel = relative_to_root(g_.root, ".", p.string(), "header");
    if (!rel.ok() || !g_.output_owner.count(rel.value())) return std::nullopt;
    auto [it, fresh] = generated_.emplace(rel.value(), generated_.size());
    return Id{~uint64_t{0}, it->second};
  }
  std::shared_ptr<const scan::FileInfo> load(const std::string& path, Id id) override {
    if (id.dev == ~uint64_t{0}) return empty_;
    return disk_.load(path, id);
  }

 private:
  const graph::Graph& g_;
  scan::DiskFiles disk_;
  std::map<std::string, uint64_t> generated_;
  std::shared_ptr<const scan::FileInfo> empty_ = std::make_shared<const scan::FileInfo>();
};

class Preparer {
 public:
  // `scans`: checked_scans(g).
  Preparer(const graph::Graph& g, DaemonConnection& conn, std::vector<std::vector<std::string>> scans,
           bool keep_root_paths)
      : g_(g), conn_(conn), scans_(std::move(scans)), guard_(g.root), keep_root_paths_(keep_root_paths) {}

  Result<Prepared> run() {
    Prepared p;
    size_t n = g_.tasks.size();
    p.actions.resize(n);
    p.deps.resize(n);
    std::vector<std::string> base_env = cmd::compiler_env();
    // The environment of a task that sets none: the same for every such task, checked once.
    std::map<std::string, std::string> base_map;
    for (auto& e : base_env) base_map[e.substr(0, e.find('='))] = e.substr(e.find('=') + 1);
    std::vector<std::string> plain_env;
    for (auto& [k, v] : base_map) plain_env.push_back(k + "=" + v);
    Status plain_env_ok = cmd::check_env(plain_env);
    for (size_t i = 0; i < n; ++i) {
      const auto& t = g_.tasks[i];
      ActionSpec& a = p.actions[i];
      a.argv = t.argv;
      a.cwd = t.cwd;
      a.root = g_.root.string();
      // C/C++ compiles map the root to "." so what they write is the same in every checkout.
      if (!keep_root_paths_) add_root_prefix_map(a.argv, a.root);
      a.outputs = t.outputs;
      a.timeout_ms = t.timeout_s * 1000;
      if (t.env.empty()) {
        a.env = plain_env;
        if (!plain_env_ok.ok()) return make_error(where(i) + ": " + plain_env_ok.error().message);
      } else {
        std::map<std::string, std::string> env = base_map;
        for (auto& [k, v] : t.env) env[k] = v;
        for (auto& [k, v] : env) a.env.push_back(k + "=" + v);
        if (auto st = cmd::check_env(a.env); !st.ok()) return make_error(where(i) + ": " + st.error().message);
      }
      // Outputs are written below the root only: a folder on the way may not lead out of it.
      for (auto& o : t.outputs) {
        auto slash = o.rfind('/');
        auto st = guard_.check_folder(slash == std::string::npos ? std::string() : o.substr(0, slash));
        if (!st.ok()) return make_error(where(i) + ": output '" + o + "': " + st.error().message);
      }
      p.deps[i].assign(t.dep_index.begin(), t.dep_index.end());
      for (auto& in : t.inputs) ZB_TRY(add_input(i, a, p.deps[i], in));
      ZB_TRY(add_tool(i, a, p.deps[i]));
    }
    ZB_TRY(discover_headers(p));
    name_objects(p);
    // A worker whose host files differ fetches the toolchain and headers from the store.
    for (auto& [d, tree] : trees_) {
      p.trees.emplace(d, tree.encode());
      for (auto& e : tree.entries) {
        if (e.kind == 'f' || e.kind == 'x') p.host_blobs.emplace(e.digest, e.path);
      }
    }
    for (auto& a : p.actions) {
      for (auto& h : a.host_files) p.host_blobs.emplace(h.digest, h.path);
    }
    for (auto& a : p.actions) {
      std::sort(a.inputs.begin(), a.inputs.end(), [](auto& x, auto& y) { return x.path < y.path; });
      a.inputs.erase(std::unique(a.inputs.begin(), a.inputs.end(), [](auto& x, auto& y) { return x.path == y.path; }),
                     a.inputs.end());
      std::sort(a.host_files.begin(), a.host_files.end(), [](auto& x, auto& y) { return x.path < y.path; });
      a.host_files.erase(std::unique(a.host_files.begin(), a.host_files.end(),
                                     [](auto& x, auto& y) { return x.path == y.path; }),
                         a.host_files.end());
    }
    for (auto& d : p.deps) {
      std::sort(d.begin(), d.end());
      d.erase(std::unique(d.begin(), d.end()), d.end());
    }
    return p;
  }

 private:
  std::string where(size_t i) const { return "task '" + g_.tasks[i].id + "'"; }

  // One action for one source compiled into two objects (client/object_names.h).
  void name_objects(Prepared& p) {
    std::set<std::string> taken;   // a new name may be no file the graph reads or writes
    for (auto& t : g_.tasks) {
      taken.insert(t.inputs.begin(), t.inputs.end());
      taken.insert(t.outputs.begin(), t.outputs.end());
    }
    p.object_as.assign(g_.tasks.size(), std::string());
    for (size_t i = 0; i < g_.tasks.size(); ++i) {
      if (g_.tasks[i].outputs.size() != 1) continue;
      if (auto as = name_object_by_command(p.actions[i], g_.tasks[i].outputs[0], taken)) p.object_as[i] = *as;
    }
    name_produced_inputs(p.actions, p.object_as);
  }

  // `rel` is relative to the root. Produced by a task: recorded with its producer; else a
  // source hashed now.
  Status add_input(size_t i, ActionSpec& a, std::vector<uint32_t>& deps, const std::string& rel) {
    auto owner = g_.output_owner.find(rel);
    if (owner != g_.output_owner.end()) {
      if (owner->second == i) return {};   // reads its own output (e.g. ar updating an archive)
      a.inputs.push_back(InputSpec{rel, Digest{}, false, static_cast<uint32_t>(owner->second + 1), {}});
      deps.push_back(static_cast<uint32_t>(owner->second));
      return {};
    }
    // A link (or a folder that is one) leading out of the root would ship that file.
    if (auto st = guard_.check(rel); !st.ok()) {
      return make_error(where(i) + ": input " + st.error().message + "; refused (only files under the root are shipped)");
    }
    fs::path full = g_.root / rel;
    auto d = memo_.get(full);
    if (!d.ok()) return make_error(where(i) + ": input '" + rel + "': " + d.error().message);
    a.inputs.push_back(InputSpec{rel, d.value(), is_executable_file(full), 0, {}});
    return {};
  }

  Status add_host_file(size_t i, ActionSpec& a, const std::string& abs) {
    auto d = memo_.get(abs);
    if (!d.ok()) return make_error(where(i) + ": " + d.error().message);
    a.host_files.push_back(HostFileSpec{abs, d.value()});
    return {};
  }

  // The program the task runs: under the root it is an input; elsewhere a host file.
  Status add_tool(size_t i, ActionSpec& a, std::vector<uint32_t>& deps) {
    const std::string& prog = a.argv[0];
    if (prog.find('/') == std::string::npos) {
      std::string found = find_in_path(prog);
      if (found.empty()) return make_error(where(i) + ": program '" + prog + "' not found in PATH");
      ZB_TRY(add_host_file(i, a, fs::path(found).lexically_normal().string()));
      std::string compiler = a.host_files.back().path;
      ZB_TRY(add_toolchain(a, compiler));
      return add_link_libraries(i, a, compiler);
    }
    fs::path p = fs::path(prog).is_absolute() ? fs::path(prog) : (g_.root / a.cwd / prog);
    p = p.lexically_normal();
    if (is_under(g_.root, p)) {
      auto rel = relative_to_root(g_.root, ".", p.string(), where(i) + ": program");
      if (!rel.ok()) return rel.error();
      return add_input(i, a, deps, rel.value());
    }
    ZB_TRY(add_host_file(i, a, p.string()));
    ZB_TRY(add_toolchain(a, p.string()));
    return add_link_libraries(i, a, p.string());
  }

  // An archiver, ranlib, a linker run directly, or CMake's archive script (sh, cmake -E rm, ar,
  // ranlib) names the tree of its programs, so a worker without them (a clang project's
  // llvm-ar on a host with no LLVM) runs the client's.
  Status add_program_tree(ActionSpec& a, const std::string& program) {
    std::vector<std::string> programs;
    if (auto script = archive_script_programs(a.argv); !script.empty()) {
      for (auto& p : script) {
        std::string found = p.find('/') == std::string::npos ? find_in_path(p) : p;
        if (found.empty() || found[0] != '/') return {};
        programs.push_back(fs::path(found).lexically_normal().string());
      }
    } else if (cmd::toolchain_program(a.argv[0])) {
      programs = {program};
    } else {
      return {};
    }
    std::string key;
    for (auto& p : programs) key += p + '\n';
    a.toolchain = remember_tree(key, [&] { return toolchain::cached_programs(programs); });
    return {};
  }

  // The tree remembered under `key` (a compiler, or a list of programs), found by `find` the
  // first time; empty when it cannot be found (the task then runs only where files match).
  template <class Find>
  Digest remember_tree(const std::string& key, Find find) {
    auto known = toolchain_of_.find(key);
    if (known != toolchain_of_.end()) return known->second;
    Result<toolchain::Tree> tree = find();
    Digest d;
    if (tree.ok()) {
      d = tree.value().digest();
      trees_.emplace(d, std::move(tree.value()));
    } else {
      std::fprintf(stderr, "zbuild: %s; its tasks run only on workers whose files match this host's\n",
                   tree.error().message.c_str());
    }
    toolchain_of_.emplace(key, d);
    return d;
  }

  // A link by a C/C++ driver reads libraries outside the root that are not the toolchain's:
  // those the command names by path (CMake does: /usr/lib/x86_64-linux-gnu/libpng.a), and each
  // -lNAME as the linker finds it in the -L folders and the compiler's own, with the shared
  // libraries those need. They become host files, so a worker whose files differ gets them too.
  Status add_link_libraries(size_t i, ActionSpec& a, const std::string& compiler) {
    if (a.toolchain.empty() || !cmd::is_c_compiler(a.argv[0]) || compiles_code(a.argv)) return {};
    std::vector<std::string> dirs, names;
    bool static_only = false;
    for (size_t k = 1; k < a.argv.size(); ++k) {
      const std::string& s = a.argv[k];
      if (s == "-static") static_only = true;
      else if (s == "-pthread") names.push_back("pthread");   // the driver adds -lpthread
      else if (s.size() > 2 && s.starts_with("-L")) dirs.push_back(s.substr(2));
      else if (s == "-L" && k + 1 < a.argv.size()) dirs.push_back(a.argv[++k]);
      else if (s.size() > 2 && s.starts_with("-l")) names.push_back(s.substr(2));
      else if (s.size() > 1 && s[0] == '/') ZB_TRY(add_library(i, a, s));
    }
    auto known = lib_dirs_.find(compiler);
    if (known == lib_dirs_.end()) known = lib_dirs_.emplace(compiler, toolchain::library_dirs(compiler)).first;
    dirs.insert(dirs.end(), known->second.begin(), known->second.end());
    for (auto& name : names) {
      std::vector<std::string> files;
      if (name[0] == ':') files = {name.substr(1)};
      else if (static_only) files = {"lib" + name + ".a"};
      else files = {"lib" + name + ".so", "lib" + name + ".a"};
      bool found = false;
      for (auto& d : dirs) {
        if (d.empty() || d[0] != '/') continue;   // a folder under the root: its files are inputs
        for (auto& f : files) {
          std::string p = (fs::path(d) / f).lexically_normal().string();
          if (!found && fs::exists(p)) {
            ZB_TRY(add_library(i, a, p));
            found = true;
          }
        }
        if (found) break;
      }
    }
    return {};
  }

  Status add_library(size_t i, ActionSpec& a, const std::string& path) {
    // By the path the linker opens (a worker places it through the tree's links, /lib -> usr/lib).
    std::string p = fs::path(path).lexically_normal().string();
    std::error_code ec;
    if (is_under(g_.root, p) || !toolchain::allowed_path(p) || !fs::is_regular_file(p, ec)) return {};
    ZB_TRY(add_host_file(i, a, p));
    auto deps = lib_deps_.find(p);
    if (deps == lib_deps_.end()) deps = lib_deps_.emplace(p, toolchain::shared_libraries(p)).first;
    for (auto& lib : deps->second) {
      std::string named = fs::path(lib).lexically_normal().string();
      if (toolchain::allowed_path(named) && fs::is_regular_file(named, ec)) ZB_TRY(add_host_file(i, a, named));
    }
    return {};
  }

  // A C/C++ compiler's task names its toolchain tree (found once per compiler and run). When
  // the tree cannot be found the task runs only where the host files match, as before.
  Status add_toolchain(ActionSpec& a, const std::string& compiler) {
    if (!cmd::is_c_compiler(a.argv[0])) return add_program_tree(a, compiler);
    a.toolchain = remember_tree(compiler, [&] { return toolchain::cached(compiler); });
    return {};
  }

  Status classify_header(size_t i, ActionSpec& a, std::vector<uint32_t>& deps, const std::string& dep,
                         std::vector<HeaderEntry>* record) {
    fs::path p = fs::path(dep).is_absolute() ? fs::path(dep) : (g_.root / a.cwd / dep);
    p = p.lexically_normal();
    if (is_under(g_.root, p)) {
      auto rel = relative_to_root(g_.root, ".", p.string(), where(i) + ": header");
      if (!rel.ok()) return rel.error();
      bool generated = g_.output_owner.count(rel.value()) > 0;
      if (!generated && !fs::exists(p)) return {};   // -MG placeholder for a file nobody makes
      ZB_TRY(add_input(i, a, deps, rel.value()));
      if (record) {
        HeaderEntry e{generated ? 'G' : 'R', rel.value(), generated ? Digest{} : a.inputs.back().digest};
        record->push_back(e);
      }
      return {};
    }
    if (!fs::exists(p)) return {};
    ZB_TRY(add_host_file(i, a, p.string()));
    if (record) record->push_back(HeaderEntry{'H', p.string(), a.host_files.back().digest});
    return {};
  }

  // A stored set still describes the files here: every path of the right form (it comes from
  // the daemon: a path under the root must be one) and every file with its recorded digest.
  bool header_set_holds(const HeaderSet& set) {
    for (auto& e : set) {
      auto norm = normalize_relative(e.path, "manifest");
      if (e.kind == 'H' ? e.path[0] != '/' : !norm.ok() || norm.value() != e.path) return false;
      if (e.kind == 'G') continue;
      fs::path full = e.kind == 'R' ? g_.root / e.path : fs::path(e.path);
      auto d = memo_.get(full);
      if (!d.ok() || d.value() != e.digest) return false;
    }
    return true;
  }

  // The files task `i`'s compile reads, found by the scanner (scan/include_scan.h); nullopt when
  // it cannot follow the compile (the compiler's -M then decides). Paths as the compiler names
  // them, relative to the task's folder or absolute.
  std::optional<std::vector<std::string>> builtin_scan(size_t i, const ActionSpec& a, scan::FileSource& files) {
    if (!scan::builtin_scan_enabled()) return std::nullopt;
    auto o = scan::scan_options(scans_[i]);
    if (!o.unsupported.empty()) return std::nullopt;
    std::string compiler = o.probe_argv[0].find('/') == std::string::npos ? find_in_path(o.probe_argv[0]) : o.probe_argv[0];
    std::string cwd = (g_.root / a.cwd).lexically_normal().string();
    if (compiler.empty()) return std::nullopt;
    auto id = memo_.get(fs::path(compiler[0] == '/' ? compiler : cwd + "/" + compiler).lexically_normal());
    auto env = scan_environment(a.env);
    if (!id.ok() || !env.ok()) return std::nullopt;
    auto facts = scan::compiler_facts(o, cwd, id.value().str(), scan::facts_cache_dir(), env.value());
    if (!facts.ok()) return std::nullopt;
    auto r = scan::scan_includes(scan::scan_request(std::move(o), std::move(facts.value()), cwd), files);
    if (!r.gave_up.empty()) return std::nullopt;
    std::vector<std::string> out;
    out.reserve(r.files.size());
    for (auto& f : r.files) out.push_back(std::move(f.path));
    return out;
  }

  std::string manifest_key(const ActionSpec& a) {
    Hasher h;
    h.field("manifest-1");
    for (auto& s : a.argv) h.field(s);
    h.field(a.cwd);
    h.field(a.root);
    for (auto& e : a.env) h.field(e);
    for (auto& in : a.inputs) {
      h.field(in.path);
      h.field(in.digest.str());
    }
    return h.finish().hex();
  }

  Status discover_headers(Prepared& p) {
    std::vector<size_t> compiles;
    std::vector<std::string> keys;
    for (size_t i = 0; i < p.actions.size(); ++i) {
      if (scans_[i].empty()) continue;
      compiles.push_back(i);
      keys.push_back(manifest_key(p.actions[i]));
    }
    if (compiles.empty()) return {};
    // One round trip for every manifest.
    std::map<std::string, std::string> found;
    {
      uint64_t rid = conn_.next_request_id();
      fbs::FlatBufferBuilder fbb(64 + keys.size() * 48);
      conn_.send(proto::finish(fbb, wire::CreateGetManifests(fbb, fbb.CreateVectorOfStrings(keys)), rid));
      for (;;) {
        auto m = conn_.recv(10000);
        if (!m) return make_error("daemon " + conn_.address().str() + " did not answer (manifests)");
        auto env = proto::decode(m->data(), m->size(), proto::kMaxClientMessage);
        if (!env.ok() || env.value()->request_id() != rid) continue;
        if (auto* ms = env.value()->body_as_Manifests()) {
          if (ms->entries()) {
            for (auto* e : *ms->entries()) found[proto::str(e->key())] = std::string(proto::bytes(e->value()));
          }
        }
        break;
      }
    }
    std::vector<size_t> to_scan;
    std::vector<std::vector<HeaderSet>> known(compiles.size());   // each manifest's sets, as stored
    for (size_t k = 0; k < compiles.size(); ++k) {
      size_t i = compiles[k];
      auto it = found.find(keys[k]);
      if (it != found.end()) {
        auto sets = decode_manifest(it->second);
        if (sets.ok()) known[k] = std::move(sets.value());
      }
      const HeaderSet* hit = nullptr;
      for (const auto& set : known[k]) {
        if (header_set_holds(set)) {
          hit = &set;
          break;
        }
      }
      if (!hit) {
        to_scan.push_back(k);
        continue;
      }
      ActionSpec& a = p.actions[i];
      for (auto& e : *hit) {
        if (e.kind == 'H') ZB_TRY(add_host_file(i, a, e.path));
        else ZB_TRY(add_input(i, a, p.deps[i], e.path));
      }
      p.manifest_hits++;
    }
    std::vector<std::string> put_keys, put_values;
    auto record = [&](size_t k, const std::vector<std::string>& deps) -> Status {
      size_t i = compiles[k];
      std::vector<HeaderEntry> rec;
      for (auto& dep : deps) ZB_TRY(classify_header(i, p.actions[i], p.deps[i], dep, &rec));
      put_keys.push_back(keys[k]);
      put_values.push_back(encode_manifest(add_header_set(std::move(rec), known[k])));
      return {};
    };
    // The in-process scanner first (one file cache for the whole graph: each header is read
    // once); what it cannot follow goes to the compiler.
    {
      std::vector<size_t> rest;
      GraphFiles files(g_);
      for (size_t k : to_scan) {
        auto deps = builtin_scan(compiles[k], p.actions[compiles[k]], files);
        if (!deps) {
          rest.push_back(k);
          continue;
        }
        p.scans++;
        p.builtin_scans++;
        ZB_TRY(record(k, *deps));
      }
      to_scan = std::move(rest);
    }
    // Scan the rest with the compiler itself, a few at a time: the checked command (response
    // files expanded), in a clean environment (the task's checked variables and a fixed PATH).
    std::vector<ProcessSpec> specs(to_scan.size());
    for (size_t j = 0; j < to_scan.size(); ++j) {
      size_t i = compiles[to_scan[j]];
      specs[j].argv = scan_argv(scans_[i]);
      specs[j].cwd = (g_.root / p.actions[i].cwd).string();
      auto env = scan_environment(p.actions[i].env);
      if (!env.ok()) return make_error(where(i) + ": " + env.error().message);
      specs[j].env = std::move(env.value());
      specs[j].use_env = true;
    }
    std::vector<Result<std::string>> outputs(to_scan.size(), Result<std::string>(std::string()));
    std::atomic<size_t> next{0};
    unsigned par = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned w = 0; w < std::min<size_t>(par, to_scan.size()); ++w) {
      pool.emplace_back([&] {
        for (size_t j = next++; j < to_scan.size(); j = next++) {
          auto r = run_process(specs[j]);
          if (!r.ok()) outputs[j] = r.error();
          else if (r.value().exit_code != 0) outputs[j] = make_error(r.value().err);
          else outputs[j] = std::move(r.value().out);
        }
      });
    }
    for (auto& t : pool) t.join();
    for (size_t j = 0; j < to_scan.size(); ++j) {
      p.scans++;
      // A failed scan: the compile itself will fail with the same diagnostics; let the worker report them.
      if (outputs[j].ok()) ZB_TRY(record(to_scan[j], parse_make_deps(outputs[j].value())));
    }
    if (!put_keys.empty()) {
      uint64_t rid = conn_.next_request_id();
      fbs::FlatBufferBuilder fbb(1024);
      std::vector<fbs::Offset<wire::ManifestEntry>> es;
      for (size_t j = 0; j < put_keys.size(); ++j) {
        es.push_back(wire::CreateManifestEntry(
            fbb, fbb.CreateString(put_keys[j]),
            fbb.CreateVector(reinterpret_cast<const uint8_t*>(put_values[j].data()), put_values[j].size())));
      }
      conn_.send(proto::finish(fbb, wire::CreatePutManifests(fbb, fbb.CreateVector(es)), rid));
    }
    return {};
  }

  const graph::Graph& g_;
  DaemonConnection& conn_;
  std::vector<std::vector<std::string>> scans_;
  RootGuard guard_;   // used from one thread only
  bool keep_root_paths_ = false;
  DigestMemo memo_;
  std::map<std::string, Digest> toolchain_of_;   // compiler path -> tree digest (empty: none found)
  std::map<Digest, toolchain::Tree> trees_;
  std::map<std::string, std::vector<std::string>> lib_dirs_;   // compiler -> its library folders
  std::map<std::string, std::vector<std::string>> lib_deps_;   // library -> the shared libraries it needs
};

// Uploads the blobs the store lacks (sources and toolchain trees), in chunks, with a window of
// unacknowledged chunks. Toolchain files and system headers go only when a worker wants them
// (send_wanted).
Result<uint64_t> upload_missing(DaemonConnection& conn, const graph::Graph& g, const Prepared& p) {
  std::map<Digest, std::string> sources;   // digest -> an absolute path
  for (auto& a : p.actions) {
    for (auto& in : a.inputs) {
      if (!in.producer) sources.emplace(in.digest, (g.root / in.path).string());
    }
  }
  std::vector<wire::Digest> ask;
  for (auto& [d, _] : sources) ask.push_back(proto::to_wire(d));
  for (auto& [d, _] : p.trees) {
    if (!sources.count(d)) ask.push_back(proto::to_wire(d));
  }
  uint64_t rid = conn.next_request_id();
  {
    fbs::FlatBufferBuilder fbb(64 + ask.size() * 24);
    conn.send(proto::finish(fbb, wire::CreateFindMissing(fbb, fbb.CreateVectorOfStructs(ask)), rid));
  }
  std::vector<Digest> missing;
  for (;;) {
    auto m = conn.recv(15000);
    if (!m) return make_error("daemon " + conn.address().str() + " did not answer (find missing blobs)");
    auto env = proto::decode(m->data(), m->size(), proto::kMaxClientMessage);
    if (!env.ok() || env.value()->request_id() != rid) continue;
    if (auto* e = env.value()->body_as_ErrorReply()) return make_error("daemon: " + proto::str(e->message()));
    if (auto* mb = env.value()->body_as_MissingBlobs()) {
      if (mb->digests()) {
        for (auto* d : *mb->digests()) missing.push_back(proto::from_wire(d));
      }
    }
    break;
  }
  uint64_t sent = 0;
  int outstanding = 0;
  auto wait_ack = [&]() -> Status {
    auto m = conn.recv(15000);
    if (!m) return make_error("daemon " + conn.address().str() + " stopped acknowledging uploads");
    auto env = proto::decode(m->data(), m->size(), proto::kMaxClientMessage);
    if (!env.ok()) return {};
    if (auto* ack = env.value()->body_as_UploadAck()) {
      outstanding--;
      if (ack->error() && ack->error()->size()) return make_error("upload rejected: " + ack->error()->str());
    }
    return {};
  };
  for (auto& d : missing) {
    Result<std::string> data = make_error("");
    if (auto t = p.trees.find(d); t != p.trees.end()) {
      data = t->second;
    } else if (auto it = sources.find(d); it != sources.end()) {
      data = read_file(it->second);
      if (!data.ok()) return data.error();
      if (digest_bytes(data.value()) != d) return make_error("'" + it->second + "' changed while zbuild read it");
    } else {
      continue;
    }
    size_t off = 0;
    do {
      size_t len = std::min(proto::kChunkSize, data.value().size() - off);
      fbs::FlatBufferBuilder fbb(len + 128);
      auto wd = proto::to_wire(d);
      conn.send(proto::finish(
          fbb,
          wire::CreateBlobChunk(fbb, &wd, off,
                                fbb.CreateVector(reinterpret_cast<const uint8_t*>(data.value().data() + off), len)),
          rid));
      outstanding++;
      off += len;
      while (outstanding >= 16) ZB_TRY(wait_ack());
    } while (off < data.value().size());
    sent += d.size;
  }
  while (outstanding > 0) ZB_TRY(wait_ack());
  return sent;
}

// A worker whose files differ from this host's wants toolchain files or system headers: sent
// as uploads on the build's request id; one this build does not name (or cannot read now) is
// answered `missing`, so nothing else of this host can be asked for. Returns the bytes sent.
uint64_t send_wanted(DaemonConnection& conn, const Prepared& p, const wire::BlobWanted* w, uint64_t rid) {
  return proto::answer_wanted(
      w, rid,
      [&](const Digest& d) -> Result<std::string> {
        auto it = p.host_blobs.find(d);
        if (it == p.host_blobs.end()) return make_error("not named by this build");
        return read_file(it->second);
      },
      [&](const std::string& m) { conn.send(m); });
}

// One `zbuild submit`, as named steps: load the graph, connect, maybe start a local slot,
// prepare the actions, then rounds of upload + submit + follow (one per daemon lifetime: a
// daemon lost mid-build is waited for when --wait-daemon allows, and what completed is then a
// cache hit), and last the report. A step that ends the command returns its exit code.
class BuildSession {
 public:
  explicit BuildSession(const SubmitOptions& opts) : opts_(opts), t0_(steady_clock().now_ms()) {}

  int run() {
    for (auto step : {&BuildSession::open, &BuildSession::load, &BuildSession::connect, &BuildSession::prepare}) {
      if (auto code = (this->*step)()) return *code;
    }
    for (;;) {
      Round r = round();
      if (r == Round::refused) return 2;
      if (r == Round::upload_failed && !wait_for_daemon()) return 1;
      if (r == Round::finished || (r == Round::lost && !wait_for_daemon())) break;
    }
    return report();
  }

 private:
  enum class Round { finished, lost, upload_failed, refused };

  static int fail(int code, const std::string& message) {
    std::fprintf(stderr, "zbuild: %s\n", printable(message).c_str());
    return code;
  }

  // The graph and the scan commands it implies, both checked before anything is sent to the
  // daemon but a status request.
  std::optional<int> load() {
    auto g = graph::load_graph(opts_.graph);
    if (!g.ok()) return fail(2, g.error().message);
    graph_ = std::move(g.value());
    auto scans = checked_scans(*graph_);
    if (!scans.ok()) return fail(2, opts_.graph + ": " + scans.error().message);
    scans_ = std::move(scans.value());
    return std::nullopt;
  }

  // The connection and its first status request, first of all: the connection is made and
  // the daemon answers while the graph is read (a status request changes nothing there).
  std::optional<int> open() {
    auto addr = parse_address(opts_.daemon);
    if (!addr.ok()) return fail(2, addr.error().message);
    addr_ = addr.value();
    auto curve = proto::load_curve_client(opts_.curve_key, opts_.daemon_key);
    if (!curve.ok()) return fail(2, curve.error().message);
    keyed_ = curve.value().has_value();
    conn_ = std::make_unique<DaemonConnection>(addr_, std::move(curve.value()));
    conn_->ping_early();
    return std::nullopt;
  }

  // The daemon answers (its status tells the pool); a local slot joins it when some program
  // of the graph is one no connected worker may run.
  std::optional<int> connect() {
    auto st = conn_->ping(std::max<int64_t>(3000, int64_t{opts_.wait_daemon_s} * 1000));
    if (!st.ok()) return fail(1, st.error().message);
    status_ = st.value();
    if (opts_.local_slots > 0) start_local_slot(keyed_);
    if (worker_count(status_) == 0) {
      std::fprintf(stderr, "zbuild: waiting for workers: none is connected to the daemon at %s yet; the build "
                   "starts when one joins\n", addr_.str().c_str());
    }
    return std::nullopt;
  }

  // The submitting machine as the last-resort slot of its own build (local_slot.h).
  void start_local_slot(bool keyed) {
    std::vector<std::vector<std::string>> argvs;
    for (auto& t : graph_->tasks) argvs.push_back(t.argv);
    auto need = programs_no_worker_runs(status_, argvs);
    if (need.empty()) return;
    if (keyed) {
      std::fprintf(stderr, "zbuild: no connected worker may run %s, and a local slot needs a daemon without keys\n",
                   printable(need[0]).c_str());
      return;
    }
    std::string why;
    local_ = LocalSlot::start(addr_, opts_.local_slots, *conn_, &why);
    if (!local_) std::fprintf(stderr, "zbuild: no local slot for %s: %s\n", printable(need[0]).c_str(), why.c_str());
  }

  // Every task's action: inputs hashed, programs resolved, headers discovered.
  std::optional<int> prepare() {
    Preparer prep(*graph_, *conn_, std::move(scans_), opts_.keep_root_paths);
    auto prepared = prep.run();
    if (!prepared.ok()) return fail(2, opts_.graph + ": " + prepared.error().message);
    prepared_ = std::move(prepared.value());
    prepare_ms_ = steady_clock().now_ms() - t0_;
    return std::nullopt;
  }

  // One round: upload what the daemon lacks, submit, follow the events, fetch the outputs.
  Round round() {
    auto uploaded = upload_missing(*conn_, *graph_, *prepared_);
    if (!uploaded.ok()) {
      fail(1, uploaded.error().message);
      return Round::upload_failed;
    }
    uint64_t rid = submit();
    Progress progress(graph_->tasks.size(), opts_.quiet);
    start_metrics(uploaded.value());
    OutputWriter writer([this](const std::string& m) { conn_->send(m); }, graph_->root, rid);
    bool done = false, lost = false;
    ok_ = refused_outputs_ = false;
    fatal_.clear();
    failed_ids_.clear();
    skipped_ids_.clear();
    SilenceWatch silence(steady_clock(), 6000, 2000);
    while ((!done || !writer.idle()) && fatal_.empty()) {
      auto m = conn_->recv(500);
      if (!m) {
        auto action = silence.silent();
        if (action == SilenceWatch::Action::lost) {
          fatal_ = "lost the daemon at " + addr_.str() + " (no answer for " + std::to_string(silence.silent_ms() / 1000) +
                   " s)";
          lost = true;
          break;
        }
        if (action == SilenceWatch::Action::ping) {
          fbs::FlatBufferBuilder fbb(32);
          conn_->send(proto::finish(fbb, wire::CreateStatusRequest(fbb), 0));
        }
        progress.tick();
        continue;
      }
      silence.heard();
      auto env = proto::decode(m->data(), m->size(), proto::kMaxClientMessage);
      if (!env.ok() || env.value()->request_id() != rid) continue;
      const wire::Envelope* e = env.value().get();
      switch (e->body_type()) {
        case wire::Body::ErrorReply:
          fail(2, "daemon refused the build: " + proto::str(e->body_as_ErrorReply()->message()));
          return Round::refused;
        case wire::Body::TaskEvent: on_task_event(e->body_as_TaskEvent(), progress, writer); break;
        case wire::Body::BlobWanted:
          metrics_.bytes_uploaded += send_wanted(*conn_, *prepared_, e->body_as_BlobWanted(), rid);
          break;
        case wire::Body::BlobChunk: {
          auto w = writer.on_chunk(e->body_as_BlobChunk());
          if (!w.ok()) fatal_ = w.error().message;
          break;
        }
        case wire::Body::BuildDone:
          done = true;
          ok_ = e->body_as_BuildDone()->ok();
          break;
        default: break;
      }
    }
    metrics_.bytes_downloaded = writer.bytes();
    progress.finish();
    return lost ? Round::lost : Round::finished;
  }

  uint64_t submit() {
    uint64_t rid = conn_->next_request_id();
    fbs::FlatBufferBuilder fbb(1 << 16);
    std::vector<fbs::Offset<wire::SubmitTask>> ts;
    for (size_t i = 0; i < prepared_->actions.size(); ++i) {
      auto act = proto::build_action(fbb, prepared_->actions[i]);
      ts.push_back(wire::CreateSubmitTask(fbb, fbb.CreateString(graph_->tasks[i].id), act,
                                          fbb.CreateVector(prepared_->deps[i])));
    }
    conn_->send(proto::finish(fbb, wire::CreateSubmitBuild(fbb, fbb.CreateString(opts_.graph), fbb.CreateVector(ts),
                                                            opts_.keep_going, opts_.require_sandbox,
                                                            fbb.CreateString(local_ ? local_->secret() : std::string())),
                              rid));
    return rid;
  }

  void start_metrics(uint64_t uploaded) {
    metrics_ = Metrics{};
    metrics_.set_pool(status_);
    std::vector<std::string> ids;
    for (auto& t : graph_->tasks) ids.push_back(t.id);
    timeline_.emplace(std::move(ids), prepared_->deps);
    metrics_.total_tasks = graph_->tasks.size();
    metrics_.bytes_uploaded = uploaded;
    metrics_.header_scans = prepared_->scans;
    metrics_.builtin_scans = prepared_->builtin_scans;
    metrics_.manifest_hits = prepared_->manifest_hits;
    metrics_.prepare_ms = prepare_ms_;
  }

  void on_task_event(const wire::TaskEvent* te, Progress& progress, OutputWriter& writer) {
    if (te->index() >= graph_->tasks.size()) return;
    const auto& task = graph_->tasks[te->index()];
    TaskReport r;
    r.index = te->index();
    r.id = task.id;
    r.state = te->state();
    r.exit_code = te->exit_code();
    r.out = with_root(proto::bytes(te->stdout_data()), graph_->root.string());   // root-free messages
    r.err = with_root(proto::bytes(te->stderr_data()), graph_->root.string());
    r.worker = proto::str(te->worker());
    r.duration_ms = te->duration_ms();
    r.attempts = te->attempts();
    r.message = proto::str(te->message());
    r.ready_us = te->ready_us();
    r.start_us = te->start_us();
    r.end_us = te->end_us();
    r.fetch_ms = te->fetch_ms();
    r.run_ms = te->run_ms();
    r.upload_ms = te->upload_ms();
    r.slot = te->slot();
    progress.on_event(r);
    metrics_.on_event(r);
    timeline_->on_event(r);
    if (r.state == wire::TaskState::Failed) failed_ids_.push_back(r.id);
    if (r.state == wire::TaskState::Skipped) skipped_ids_.push_back(r.id);
    if (r.state != wire::TaskState::Done && r.state != wire::TaskState::Cached) return;
    // Only the outputs the task declared are written; anything else fails the task.
    auto outs = proto::parse_outputs(te->outputs());
    // An object its action wrote under a name of its command goes where the task declares it.
    if (const std::string& as = prepared_->object_as[r.index]; outs.ok() && !as.empty()) {
      for (auto& o : outs.value()) {
        if (o.path == as) o.path = task.outputs[0];
      }
    }
    Status claimed = outs.ok() ? check_claimed_outputs(task, outs.value())
                               : Status(make_error("task '" + task.id + "': the daemon sent a bad output list: " +
                                                   outs.error().message));
    if (!claimed.ok()) {
      fail(1, claimed.error().message);
      failed_ids_.push_back(r.id);
      refused_outputs_ = true;
      return;
    }
    for (auto& o : outs.value()) writer.want(task.id, o);
  }

  // After a lost daemon: wait for it when --wait-daemon allows (then submit again).
  bool wait_for_daemon() {
    int64_t wait_ms = int64_t{opts_.wait_daemon_s} * 1000;
    if (wait_ms <= 0) return false;
    std::fprintf(stderr, "zbuild: lost the daemon at %s; waiting up to %d s for it to come back\n",
                 addr_.str().c_str(), opts_.wait_daemon_s);
    if (!conn_->ping(wait_ms).ok()) return false;
    std::fprintf(stderr, "zbuild: daemon is back; submitting the build again\n");
    return true;
  }

  static void print_ids(const char* what, const std::vector<std::string>& ids, size_t most) {
    if (ids.empty()) return;
    std::fprintf(stdout, "%s: ", what);
    for (size_t i = 0; i < ids.size() && i < most; ++i)
      std::fprintf(stdout, "%s%s", i ? ", " : "", printable(ids[i]).c_str());
    std::fprintf(stdout, "%s\n", ids.size() > most ? ", ..." : "");
  }

  static void write_or_warn(const Status& w) {
    if (!w.ok()) std::fprintf(stderr, "zbuild: %s\n", w.error().message.c_str());
  }

  // The summary, the failed and skipped tasks, the metrics, CSV and trace files; the exit code.
  int report() {
    metrics_.build_time_ms = steady_clock().now_ms() - t0_;
    metrics_.schedule = timeline_->summarize(metrics_.total_slots);
    if (!fatal_.empty()) {
      fail(1, fatal_);
      ok_ = false;
    }
    if (!opts_.quiet) std::fprintf(stdout, "%s\n", metrics_.summary().c_str());
    print_ids("failed", failed_ids_, SIZE_MAX);
    print_ids(("skipped (" + std::to_string(skipped_ids_.size()) + ")").c_str(), skipped_ids_, 20);
    std::fflush(stdout);
    if (!opts_.metrics_out.empty()) write_or_warn(write_file_atomic(opts_.metrics_out, metrics_.to_json()));
    if (!opts_.csv_out.empty()) write_or_warn(metrics_.append_csv(opts_.csv_out));
    if (!opts_.trace_out.empty()) {
      write_or_warn(write_file_atomic(opts_.trace_out,
                                      timeline_->trace_json(metrics_.schedule, metrics_.to_json(), opts_.graph)));
    }
    return ok_ && fatal_.empty() && !refused_outputs_ ? 0 : 1;
  }

  const SubmitOptions& opts_;
  const int64_t t0_;
  std::optional<graph::Graph> graph_;
  std::vector<std::vector<std::string>> scans_;
  Address addr_;
  std::unique_ptr<DaemonConnection> conn_;
  std::string status_;   // the daemon's status JSON when the session connected
  std::unique_ptr<LocalSlot> local_;
  std::optional<Prepared> prepared_;
  int64_t prepare_ms_ = 0;
  bool keyed_ = false;   // the connection uses CurveZMQ keys (open())
  // The last round's outcome.
  Metrics metrics_;
  std::optional<Timeline> timeline_;
  bool ok_ = false, refused_outputs_ = false;
  std::string fatal_;
  std::vector<std::string> failed_ids_, skipped_ids_;
};

}  // namespace

int run_submit(const SubmitOptions& opts) { return BuildSession(opts).run(); }

}  // namespace zbuild::client
