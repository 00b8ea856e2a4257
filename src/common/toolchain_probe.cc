#include "common/toolchain_probe.h"

#include <fcntl.h>

#include <sys/file.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <fstream>
#include <map>
#include <sstream>

#include "common/fs.h"
#include "common/paths.h"
#include "common/subprocess.h"
#include "common/text.h"

namespace zbuild::toolchain {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> components(const std::string& p) {
  std::vector<std::string> out;
  for (auto c : split(p, '/')) {
    if (!c.empty() && c != ".") out.emplace_back(c);
  }
  return out;
}

std::string parent_of(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos || s == 0 ? std::string() : p.substr(0, s);
}

// The entries found so far, keyed by path (so sorted and unique).
class Builder {
 public:
  // Adds the file or folder `path` names (absolute; may hold ".." and links), resolving it as
  // the kernel does and recording every link and folder on the way. False when it does not
  // exist, leaves the toolchain folders, or is neither a file nor a folder.
  bool walk(const std::string& path, int depth = 0) {
    if (depth > 40 || path.empty() || path[0] != '/') return false;
    auto comps = components(path);
    std::string cur;   // resolved so far, without links; "" is "/"
    for (size_t i = 0; i < comps.size(); ++i) {
      const std::string& c = comps[i];
      if (c == "..") {
        cur = parent_of(cur);
        continue;
      }
      std::string next = cur + "/" + c;
      if (!allowed_path(next)) return false;
      struct stat st {};
      if (::lstat(next.c_str(), &st) != 0) return false;
      if (S_ISLNK(st.st_mode)) {
        std::string target(4096, '\0');
        ssize_t n = ::readlink(next.c_str(), target.data(), target.size());
        if (n <= 0 || static_cast<size_t>(n) >= target.size()) return false;
        target.resize(static_cast<size_t>(n));
        if (target.find_first_of("\t\n") != std::string::npos) return false;
        entries_.emplace(next, Entry{'l', next, {}, target});
        std::string rest;
        for (size_t j = i + 1; j < comps.size(); ++j) rest += "/" + comps[j];
        return walk((target[0] == '/' ? target : cur + "/" + target) + rest, depth + 1);
      }
      if (S_ISDIR(st.st_mode)) {
        entries_.emplace(next, Entry{'d', next, {}, {}});
        cur = next;
        continue;
      }
      if (!S_ISREG(st.st_mode) || i + 1 != comps.size()) return false;
      if (next.find_first_of("\t\n") != std::string::npos) return false;
      if (entries_.count(next)) return true;
      auto d = digest_file(next);
      if (!d.ok()) return false;
      entries_.emplace(next, Entry{(st.st_mode & S_IXUSR) ? 'x' : 'f', next, d.value(), {}});
      return true;
    }
    return !cur.empty();
  }

  Tree tree() const {
    Tree t;
    for (auto& [_, e] : entries_) t.entries.push_back(e);
    return t;
  }
  const std::map<std::string, Entry>& entries() const { return entries_; }

 private:
  std::map<std::string, Entry> entries_;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<ProcessResult> ask(const std::string& compiler, std::vector<std::string> args, const std::string& cwd = "") {
  ProcessSpec ps;
  ps.argv = {compiler};
  ps.argv.insert(ps.argv.end(), args.begin(), args.end());
  ps.cwd = cwd;
  ps.timeout_ms = 60000;
  return run_process(ps);
}

// Absolute paths a compiler's -v output or a linker's -t trace names: tokens, values after
// '=', the folders of -L/-B/-I, and ':'-separated lists.
std::vector<std::string> paths_in(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string tok;
  while (in >> tok) {
    std::vector<std::string> cands = {tok};
    for (size_t eq = tok.find('='); eq != std::string::npos; eq = tok.find('=', eq + 1)) cands.push_back(tok.substr(eq + 1));
    if (tok.size() > 2 && tok[0] == '-' && tok[2] == '/') cands.push_back(tok.substr(2));
    for (auto& c : cands) {
      for (auto part : split(c, ':')) {
        std::string p(part);
        while (!p.empty() && (p.front() == '(' || p.front() == '"' || p.front() == '\'')) p.erase(p.begin());
        while (!p.empty() && (p.back() == ')' || p.back() == '"' || p.back() == '\'' || p.back() == ',')) p.pop_back();
        if (p.size() > 1 && p[0] == '/') out.push_back(p);
      }
    }
  }
  return out;
}

bool is_dynamic_elf(const std::string& path) {
  char h[18] = {};
  std::ifstream f(path, std::ios::binary);
  if (!f.read(h, sizeof h) || std::string_view(h, 4) != "\x7f" "ELF") return false;
  unsigned char type = static_cast<unsigned char>(h[16]);   // e_type, little end first
  return type == 2 || type == 3;                                     // ET_EXEC, ET_DYN
}

// The trees name every toolchain file's digest (so cache keys): kept only in a folder no other
// user can write or swap (private_dir, made 0700 when missing); else probed each time.
std::string cache_dir() {
  const char* v = std::getenv("ZBUILD_TOOLCHAIN_CACHE");
  std::string dir = v && *v ? (std::string(v) == "off" ? std::string() : std::string(v)) : user_cache_path("toolchains-1");
  return dir.empty() || !private_dir(dir) ? std::string() : dir;
}

// The cache file's first line: its format and what finds a tree (a newer probe finds more, so
// its trees replace those an older one left).
std::string cache_header(const std::string& compiler) {
  return "zbuild-toolchain-cache 1 probe " + std::to_string(kProbeVersion) + " " + compiler;
}

std::string stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_size) + " " +
         std::to_string(static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + st.st_mtim.tv_nsec) + " " +
         std::to_string(st.st_ino);
}

}  // namespace

std::vector<std::string> shared_libraries(const std::string& path);

namespace {

void add_shared_libraries(Builder& b) {
  // Shared libraries and the loader of every program and library found. ldd lists the whole
  // closure of what it is given, so a library it listed needs no ldd of its own (under the name
  // ldd printed or the file that name leads to); one walked for another reason does.
  std::map<std::string, bool> seen;
  for (bool more = true; more;) {
    more = false;
    auto now = b.entries();
    for (auto& [path, e] : now) {
      if ((e.kind != 'f' && e.kind != 'x') || seen[path]) continue;
      seen[path] = true;
      for (auto& lib : shared_libraries(path)) {
        if (b.walk(lib)) more = true;
        seen[lib] = true;
        std::error_code ec;
        auto real = fs::canonical(lib, ec);
        if (!ec) seen[real.string()] = true;
      }
    }
  }
}

}  // namespace

Result<Tree> programs_tree(const std::vector<std::string>& programs) {
  Builder b;
  for (auto& p : programs) {
    if (p.empty() || p[0] != '/' || !b.walk(p)) {
      return make_error("program '" + p + "': not a file under the toolchain folders (/usr, /opt, ...)");
    }
  }
  add_shared_libraries(b);
  return b.tree();
}

std::vector<std::string> shared_libraries(const std::string& path) {
  std::vector<std::string> out;
  std::string ldd = find_in_path("ldd");
  if (ldd.empty() || !is_dynamic_elf(path)) return out;
  ProcessSpec ps;
  ps.argv = {ldd, path};
  ps.timeout_ms = 30000;
  auto r = run_process(ps);
  if (!r.ok() || r.value().exit_code != 0) return out;
  for (auto line : split(r.value().out, '\n')) {
    auto arrow = line.find("=> ");
    std::string rest(arrow == std::string::npos ? line : line.substr(arrow + 3));
    auto start = rest.find_first_not_of(" \t");
    if (start == std::string::npos || rest[start] != '/') continue;
    out.push_back(rest.substr(start, rest.find(' ', start) - start));
  }
  return out;
}

std::vector<std::string> library_dirs(const std::string& compiler) {
  std::vector<std::string> out;
  auto r = ask(compiler, {"-print-search-dirs"});
  if (!r.ok() || r.value().exit_code != 0) return out;
  for (auto line : split(r.value().out, '\n')) {
    if (!line.starts_with("libraries: =")) continue;
    for (auto d : split(line.substr(12), ':')) {
      if (!d.empty() && d[0] == '/') out.push_back(fs::path(std::string(d)).lexically_normal().string());
    }
  }
  return out;
}

Result<Tree> discover(const std::string& compiler) {
  Builder b;
  if (compiler.empty() || compiler[0] != '/' || !b.walk(compiler)) {
    return make_error("compiler '" + compiler + "': not a file under the toolchain folders (/usr, /opt, ...)");
  }
  std::error_code ec;
  std::string real = fs::canonical(compiler, ec).filename().string();
  bool clang = real.find("clang") != std::string::npos;
  auto add_named = [&](const std::string& answer, const std::string& name) {
    std::string p = trim(answer);
    if (p.empty() || p == name) p = find_in_path(name);
    if (!p.empty() && p[0] == '/') b.walk(p);
  };
  std::vector<std::string> progs = {"as", "ld"};
  if (!clang) progs.insert(progs.end(), {"cc1", "cc1plus", "collect2", "lto-wrapper", "lto1"});
  for (auto& prog : progs) {
    auto r = ask(compiler, {"-print-prog-name=" + prog});
    if (r.ok() && r.value().exit_code == 0) add_named(r.value().out, prog);
  }
  // Files a link reads that the probe below may not (another startup file, static libraries).
  for (const char* f : {"liblto_plugin.so", "crt1.o", "Scrt1.o", "crti.o", "crtn.o", "crtbegin.o", "crtbeginS.o",
                        "crtbeginT.o", "crtend.o", "crtendS.o", "libgcc.a", "libgcc_eh.a", "libgcc_s.so", "libstdc++.so",
                        "libstdc++.a", "libc.so", "libm.so", "libc_nonshared.a", "libpthread.so", "libpthread.a",
                        "libdl.so", "libdl.a", "librt.so", "librt.a", "libm.a", "libc.a", "libatomic.so",
                        "libatomic.a"}) {
    auto r = ask(compiler, {std::string("-print-file-name=") + f});
    if (r.ok() && r.value().exit_code == 0) {
      std::string p = trim(r.value().out);
      if (!p.empty() && p[0] == '/') b.walk(p);
    }
  }
  // A compile and a link, reporting the commands they run and every file the linker reads.
  char tmpl[] = "/tmp/zbuild-toolchain-XXXXXX";
  if (!::mkdtemp(tmpl)) return make_error("toolchain probe: cannot make a temporary folder");
  std::string tmp = tmpl;
  bool cxx = real.find("++") != std::string::npos || fs::path(compiler).filename().string().find("++") != std::string::npos;
  std::string src = tmp + (cxx ? "/probe.cc" : "/probe.c");
  auto wrote = write_file_atomic(src, "int main(void) { return 0; }\n");
  Result<ProcessResult> link = make_error("not run");
  if (wrote.ok()) link = ask(compiler, {"-v", src, "-o", tmp + "/probe", "-Wl,-t"}, tmp);
  fs::remove_all(tmp, ec);
  if (!wrote.ok()) return wrote.error();
  if (!link.ok()) return link.error();
  if (link.value().exit_code != 0) {
    return make_error("compiler '" + compiler + "' could not link a probe program: " +
                      trim(link.value().err.substr(0, 400)));
  }
  for (auto& p : paths_in(link.value().out + "\n" + link.value().err)) {
    if (!p.starts_with(tmp)) b.walk(p);
  }
  // What linker scripts name (libc.so, libm.so: `GROUP ( /lib/.../libm.so.6 AS_NEEDED ( ...
  // libmvec.so.1 ) )`), which a probe that does not link that library never opens.
  for (auto& [path, e] : std::map<std::string, Entry>(b.entries())) {
    if ((e.kind != 'f') || e.digest.size > 16384) continue;
    auto text = read_file(path);
    if (!text.ok() || text.value().find("GROUP") == std::string::npos) continue;
    for (auto& p : paths_in(text.value())) b.walk(p);
  }
  add_shared_libraries(b);
  return b.tree();
}

std::string tree_file(const Tree& t) {
  std::string dir = cache_dir();
  if (dir.empty()) return {};
  std::string text = t.encode();
  std::string file = dir + "/trees/" + digest_bytes(text).hex();
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0 && static_cast<size_t>(st.st_size) == text.size()) return file;
  std::error_code ec;
  fs::create_directories(dir + "/trees", ec);
  return write_file_atomic(file, text).ok() ? file : std::string();
}

namespace {

// The tree found by `find` for `what` (a compiler, or a list of programs), through the per-user
// cache: kept with the stamp of every file it names and read back while each still has it.
template <class Find>
Result<Tree> cached_tree(const std::string& what, Find find) {
  std::string dir = cache_dir();
  std::string file = dir.empty() ? std::string() : dir + "/" + digest_bytes(what).hex();
  // The header names `what` on one line: a list of programs is written with ';' between them.
  std::string header = what;
  for (auto& c : header) if (c == '\n') c = ';';
  header = cache_header(header);
  auto read_cached = [&]() -> std::optional<Tree> {
    if (file.empty()) return std::nullopt;
    auto text = read_file(file);
    if (!text.ok()) return std::nullopt;
    const std::string& s = text.value();
    auto sep = s.find("\n--\n");
    auto nl = s.find('\n');
    if (sep == std::string::npos || s.substr(0, nl) != header) return std::nullopt;
    std::string stamps = sep > nl ? s.substr(nl + 1, sep - nl - 1) : std::string();
    for (auto lv : split(stamps, '\n')) {
      std::string line(lv);
      // "<size> <mtime> <ino> <path>": the path starts after the third space.
      size_t p = line.find(' ');
      p = p == std::string::npos ? p : line.find(' ', p + 1);
      p = p == std::string::npos ? p : line.find(' ', p + 1);
      if (p == std::string::npos || stamp_of(line.substr(p + 1)) != line.substr(0, p)) return std::nullopt;
    }
    auto tree = Tree::decode(std::string_view(s).substr(sep + 4));
    if (!tree.ok()) return std::nullopt;
    for (auto& e : tree.value().entries) {
      if (e.kind != 'l') continue;
      std::error_code ec;
      if (fs::read_symlink(e.path, ec).string() != e.target || ec) return std::nullopt;
    }
    return std::move(tree.value());
  };
  if (auto t = read_cached()) return std::move(*t);
  // Not cached: one process finds it, the others (a build starts several compiles at once) wait
  // for that and read its answer, instead of each probing the compiler (about a second each).
  struct Lock {
    int fd = -1;
    ~Lock() {
      if (fd >= 0) ::close(fd);
    }
  } lock;
  if (!file.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    lock.fd = ::open((file + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock.fd >= 0 && ::flock(lock.fd, LOCK_EX) != 0) {
      ::close(lock.fd);
      lock.fd = -1;
    }
    if (auto t = read_cached()) return std::move(*t);
  }
  auto tree = find();
  if (!tree.ok() || file.empty()) return tree;
  std::string out = header + "\n";
  for (auto& e : tree.value().entries) {
    if (e.kind == 'f' || e.kind == 'x') out += stamp_of(e.path) + " " + e.path + "\n";
  }
  out += "--\n" + tree.value().encode();
  (void)write_file_atomic(file, out);   // a cache: not writing it only costs the next probe
  return tree;
}

}  // namespace

Result<Tree> cached(const std::string& compiler) {
  return cached_tree(compiler, [&] { return discover(compiler); });
}

Result<Tree> cached_programs(const std::vector<std::string>& programs) {
  std::string what = "programs";
  for (auto& p : programs) what += "\n" + p;
  return cached_tree(what, [&] { return programs_tree(programs); });
}

}  // namespace zbuild::toolchain
