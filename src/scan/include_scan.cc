#include "scan/include_scan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <unordered_set>

#include "scan/file_cache.h"
#include "scan/macros.h"

namespace zbuild::scan {

namespace {

bool is_punct(const Token& t, std::string_view p) { return t.kind == TokKind::Punct && t.text == p; }

bool opens(DirKind k) { return k == DirKind::If || k == DirKind::Ifdef || k == DirKind::Ifndef; }

// G when `d` is "#ifndef G" or "#if !defined(G)" / "#if !defined G".
std::string guard_of(const Directive& d) {
  auto t = tokenize(d.text);
  if (d.kind == DirKind::Ifndef) return t.size() == 1 && t[0].kind == TokKind::Ident ? std::string(t[0].text) : std::string();
  if (d.kind != DirKind::If || t.size() < 3 || !is_punct(t[0], "!") || t[1].text != "defined") return {};
  if (t.size() == 3 && t[2].kind == TokKind::Ident) return std::string(t[2].text);
  if (t.size() == 5 && is_punct(t[2], "(") && t[3].kind == TokKind::Ident && is_punct(t[4], ")")) return std::string(t[3].text);
  return {};
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string dir_of(const std::string& named) {
  auto slash = named.rfind('/');
  if (slash == std::string::npos) return {};
  return slash == 0 ? std::string("/") : named.substr(0, slash);
}

}  // namespace

FileInfo file_info(std::string_view text) {
  FileInfo f;
  auto store = std::make_shared<std::string>();
  f.directives = lex_directives(text, *store);
  f.storage = std::move(store);
  auto& d = f.directives;
  if (d.size() >= 2 && (d[0].kind == DirKind::Ifndef || d[0].kind == DirKind::If)) {
    std::string g = guard_of(d[0]);
    int depth = 0;
    size_t end = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      if (opens(d[i].kind)) ++depth;
      if (d[i].kind == DirKind::Endif && --depth == 0) {
        end = i;
        break;
      }
    }
    // Only #ifndef G ... #endif, no #else/#elif at the top level, nothing after: a second
    // inclusion with G defined reads nothing.
    bool plain = !g.empty() && end == d.size() - 1;
    depth = 0;
    for (size_t i = 0; plain && i < d.size(); ++i) {
      if (opens(d[i].kind)) ++depth;
      else if (d[i].kind == DirKind::Endif) --depth;
      else if (depth == 1 && (d[i].kind == DirKind::Else || d[i].kind == DirKind::Elif ||
                              d[i].kind == DirKind::Elifdef || d[i].kind == DirKind::Elifndef))
        plain = false;
    }
    if (plain) f.guard = g;
  }
  return f;
}

namespace {

constexpr uint64_t kMaxFileBytes = 64ull << 20;

}  // namespace

DiskFiles::DiskFiles() = default;
DiskFiles::DiskFiles(const std::string& cache_dir) {
  if (!cache_dir.empty()) cache_ = std::make_unique<FileCache>(cache_dir);
}
DiskFiles::~DiskFiles() {
  for (auto& [_, fd] : folders_)
    if (fd >= 0) ::close(fd);
}
uint64_t DiskFiles::from_cache() const { return cache_ ? cache_->hits() : 0; }

std::optional<FileSource::Id> DiskFiles::find(const std::string& path) {
  auto it = found_.find(path);
  if (it != found_.end()) return it->second ? std::optional<Id>(it->second->id) : std::nullopt;
  struct stat st {};
  std::optional<Found> r;
  size_t slash = path.rfind('/');
  int dir = slash == std::string::npos || slash == 0 ? kNoFd : folder_fd(std::string_view(path).substr(0, slash));
  // A folder's listing (the scanner cache keeps them) tells a name that is not there without a stat.
  bool listed_absent = dir >= 0 && cache_ && cache_->absent(path.substr(0, slash), dir, std::string_view(path).substr(slash + 1));
  bool there = dir == kMissing || listed_absent ? false
               : dir >= 0                       ? ::fstatat(dir, path.c_str() + slash + 1, &st, 0) == 0
                                                : ::stat(path.c_str(), &st) == 0;
  if (there && S_ISREG(st.st_mode)) {
    r = Found{Id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)}, stamp_of(st)};
  }
  found_.emplace(path, r);
  return r ? std::optional<Id>(r->id) : std::nullopt;
}

std::optional<FileStamp> DiskFiles::stamp(const std::string& path) const {
  auto it = found_.find(path);
  if (it == found_.end() || !it->second) return std::nullopt;
  return it->second->stamp;
}

// A header is searched for in every folder of the chains: <bits/x.h> in each -I folder that has
// no bits/ at all. A folder that is not there is asked once, not once per header.
int DiskFiles::folder_fd(std::string_view dir) {
  auto it = folders_.find(dir);
  if (it != folders_.end()) return it->second;
  std::string d(dir);
  int fd = kNoFd;
  // A sub-folder (<bits/x.h> looked for in a -I folder): the parent's listing, when the parent
  // is open, can tell it is not there without an open.
  if (size_t slash = d.rfind('/'); cache_ && slash != std::string::npos && slash > 0) {
    auto parent = folders_.find(std::string_view(d).substr(0, slash));
    if (parent != folders_.end() && parent->second >= 0 &&
        cache_->absent(parent->first, parent->second, std::string_view(d).substr(slash + 1))) {
      folders_.emplace(std::move(d), kMissing);
      return kMissing;
    }
  }
  if (folder_fds_ < kMaxFolderFds) {
    fd = ::open(d.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) ++folder_fds_;
    else fd = errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == EINTR ? kNoFd : kMissing;
  }
  if (fd == kNoFd) {
    struct stat st {};
    if (::stat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) fd = kMissing;
  }
  folders_.emplace(std::move(d), fd);
  return fd;
}

std::shared_ptr<const FileInfo> DiskFiles::load(const std::string& path, Id id) {
  auto it = loaded_.find(id);
  if (it != loaded_.end()) return it->second;
  // The cache answers for the file find() saw (stamps and all); a file changed since is a miss.
  auto seen = found_.find(path);
  bool known = seen != found_.end() && seen->second && seen->second->id == id;
  if (cache_ && known) {
    if (auto info = cache_->get(path, seen->second->stamp)) {
      loaded_.emplace(id, info);
      return info;
    }
  }
  // A path a hostile tree names: opened without blocking (a FIFO swapped in after find()), only
  // a regular file, and no more than kMaxFileBytes (the compiler then decides).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return nullptr;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    ::close(fd);
    return nullptr;
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      ::close(fd);
      return nullptr;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {   // grew since fstat
      ::close(fd);
      return nullptr;
    }
  }
  ::close(fd);
  bytes_ += text.size();
  ++lexed_;
  auto info = std::make_shared<const FileInfo>(file_info(text));
  // Remembered under the stamps of what was read, and only when they are find()'s too and the
  // size matches what was read (a file written meanwhile is not remembered).
  FileStamp read_at = stamp_of(st);
  if (cache_ && known && read_at == seen->second->stamp && read_at.size == text.size()) cache_->put(path, read_at, *info);
  loaded_.emplace(id, info);
  return info;
}

namespace {

constexpr int kMaxDepth = 200;

struct Here {
  std::string named;
  FileSource::Id id;
  int chain = -1;   // index in quote+bracket where it was found, -1: not through the chains
  bool system = false;
};

class Walker {
 public:
  Walker(const ScanRequest& req, FileSource& fs) : req_(req), fs_(fs) {
    cx_.macros = &macros_;
    cx_.cplusplus = req.cplusplus;
    cx_.has_include = [this](const std::string& h, bool next) { return resolve(h, next, *here_).has_value(); };
  }

  ScanResult run() {
    if (req_.predefined_table) macros_ = MacroTable(req_.predefined_table);
    macros_.set_lazy_bodies(true);   // this scan's own table: most #defines are never expanded
    if (!req_.predefined_table)
      for (auto& d : req_.predefined) macros_.define(d, true);
    for (auto& [kind, v] : req_.command_macros) {
      if (kind == 'U') {
        macros_.undef(v, true);
        continue;
      }
      auto eq = v.find('=');
      macros_.define(eq == std::string::npos ? v + " 1" : v.substr(0, eq) + " " + v.substr(eq + 1), true);
    }
    Here top;
    top.named = req_.source;
    auto id = fs_.find(abs_of(req_.source));
    if (!id) return give_up("cannot read the source " + req_.source);
    top.id = *id;
    record(top);
    for (auto& p : req_.preincluded) {
      auto pid = fs_.find(p);
      if (!pid) continue;   // the compiler reads it only if it exists
      if (!enter(Here{p, *pid, -1, true}, 1)) return std::move(result_);
    }
    // -include FILE: searched in the working directory first, then the "..." chain.
    for (auto& f : req_.forced_includes) {
      Here cwd_ctx;   // named "" dir: the working directory
      auto hit = resolve("\"" + f + "\"", false, cwd_ctx);
      if (!hit) return give_up("-include " + f + ": not found");
      if (!enter(*hit, 1)) return std::move(result_);
    }
    if (!walk_file(top, 0)) return std::move(result_);
    return std::move(result_);
  }

 private:
  std::string abs_of(const std::string& named) const {
    return !named.empty() && named[0] == '/' ? named : join(req_.cwd, named);
  }

  ScanResult give_up(std::string why) {
    if (result_.gave_up.empty()) result_.gave_up = std::move(why);
    return std::move(result_);
  }
  bool fail(std::string why) {
    if (result_.gave_up.empty()) result_.gave_up = std::move(why);
    return false;
  }

  void record(const Here& h) {
    if (recorded_.insert(h.named).second) result_.files.push_back(ScannedFile{h.named, h.system});
  }

  // `header` with its delimiters: <x> or "x". Remembered by what decides the answer (the
  // header, where the search starts, the including file's folder for "x"): a header included
  // from many files is searched for once.
  std::optional<Here> resolve(const std::string& header, bool next, const Here& cur) {
    if (header.size() < 3) return std::nullopt;
    bool angled = header[0] == '<';
    bool from_here = !angled && !(next && cur.chain >= 0);
    std::string key = header;
    key += '\0';
    key += next && cur.chain >= 0 ? std::to_string(cur.chain) : "-";
    if (from_here) {
      key += '\0';
      key += dir_of(cur.named);
    }
    auto it = resolved_.find(key);
    if (it == resolved_.end()) it = resolved_.emplace(std::move(key), search(header, next, cur)).first;
    if (!it->second) return std::nullopt;
    Here h = *it->second;
    h.system = h.system || cur.system;
    return h;
  }

  // resolve()'s search; the answer's `system` says only whether its folder is a system one.
  std::optional<Here> search(const std::string& header, bool next, const Here& cur) {
    bool angled = header[0] == '<';
    std::string name = header.substr(1, header.size() - 2);
    if (name[0] == '/') {
      auto id = fs_.find(name);
      if (!id) return std::nullopt;
      return Here{name, *id, -1, false};
    }
    const auto& q = req_.paths.quote;
    const auto& b = req_.paths.bracket;
    size_t start = angled ? q.size() : 0;
    if (next && cur.chain >= 0) {
      start = static_cast<size_t>(cur.chain) + 1;
    } else if (!angled) {
      std::string named = join(dir_of(cur.named), name);
      if (auto id = fs_.find(abs_of(named))) return Here{named, *id, -1, false};
    }
    for (size_t i = start; i < q.size() + b.size(); ++i) {
      bool in_quote = i < q.size();
      std::string named = join(in_quote ? q[i] : b[i - q.size()], name);
      if (auto id = fs_.find(abs_of(named))) {
        bool sys = !in_quote && i - q.size() < req_.paths.bracket_system.size() && req_.paths.bracket_system[i - q.size()];
        return Here{named, *id, static_cast<int>(i), sys};
      }
    }
    return std::nullopt;
  }

  bool enter(const Here& h, int depth) {
    if (depth > kMaxDepth) return fail("#include nested deeper than " + std::to_string(kMaxDepth));
    record(h);
    if (once_.count(h.id)) return true;
    return walk_file(h, depth);
  }

  bool walk_file(const Here& h, int depth) {
    auto info = fs_.load(abs_of(h.named), h.id);
    if (!info) return fail("cannot read " + h.named);
    held_.push_back(info);   // macros_ views its #define texts
    if (!info->guard.empty() && macros_.state(info->guard) == MacroTable::State::Defined) return true;
    Here cur = h;
    struct Frame {
      Tri parent, cur, any;
    };
    std::vector<Frame> conds;
    auto active = [&] { return conds.empty() ? Tri::True : conds.back().cur; };
    auto cond = [&](const Directive& d) -> Tri {
      here_ = &cur;
      if (d.kind == DirKind::If || d.kind == DirKind::Elif) return eval_condition(d.text, cx_);
      auto t = tokenize(d.text);
      if (t.empty() || t[0].kind != TokKind::Ident) return Tri::Maybe;
      auto s = macros_.defined(t[0].text);
      if (s == MacroTable::State::Unknown) return Tri::Maybe;
      bool defined = s == MacroTable::State::Defined;
      bool want = d.kind == DirKind::Ifdef || d.kind == DirKind::Elifdef;
      return defined == want ? Tri::True : Tri::False;
    };
    for (auto& d : info->directives) {
      switch (d.kind) {
        case DirKind::If:
        case DirKind::Ifdef:
        case DirKind::Ifndef: {
          Tri parent = active();
          if (parent == Tri::False) {
            conds.push_back({parent, Tri::False, Tri::True});
          } else {
            Tri v = cond(d);
            if (v == Tri::Maybe) ++result_.maybe_branches;
            conds.push_back({parent, tri_and(parent, v), v});
          }
          break;
        }
        case DirKind::Elif:
        case DirKind::Elifdef:
        case DirKind::Elifndef: {
          if (conds.empty()) return fail(h.named + ":" + std::to_string(d.line) + ": #elif without #if");
          Frame& f = conds.back();
          if (f.parent == Tri::False || f.any == Tri::True) {
            f.cur = Tri::False;
            break;
          }
          Tri v = cond(d);
          if (v == Tri::Maybe) ++result_.maybe_branches;
          Tri c = f.any == Tri::False ? v : (v == Tri::False ? Tri::False : Tri::Maybe);
          f.cur = tri_and(f.parent, c);
          f.any = tri_or(f.any, v);
          break;
        }
        case DirKind::Else: {
          if (conds.empty()) return fail(h.named + ":" + std::to_string(d.line) + ": #else without #if");
          Frame& f = conds.back();
          f.cur = f.parent == Tri::False ? Tri::False : tri_and(f.parent, tri_not(f.any));
          f.any = Tri::True;
          break;
        }
        case DirKind::Endif:
          if (conds.empty()) return fail(h.named + ":" + std::to_string(d.line) + ": #endif without #if");
          conds.pop_back();
          break;
        default: {
          Tri a = active();
          if (a == Tri::False) break;
          bool certain = a == Tri::True;
          if (d.kind == DirKind::Define) {
            macros_.define(d.text, certain, /*stable=*/true);
          } else if (d.kind == DirKind::Undef) {
            macros_.undef(d.text, certain);
          } else if (d.kind == DirKind::PragmaOnce) {
            if (certain) once_.insert(cur.id);
          } else if (d.kind == DirKind::PragmaSystemHeader) {
            if (depth > 0 && certain) cur.system = true;
          } else if (d.kind == DirKind::Error) {
            if (certain) return fail(h.named + ":" + std::to_string(d.line) + ": #error " + std::string(d.text));
          } else {   // #include, #include_next, #import
            std::string header = operand(d.text);
            if (header.empty()) {
              here_ = &cur;
              auto x = expand_include_operand(d.text, cx_);
              if (!x) {
                if (!certain) continue;
                return fail(h.named + ":" + std::to_string(d.line) + ": computed #include " + std::string(d.text));
              }
              header = *x;
            }
            auto hit = resolve(header, d.kind == DirKind::IncludeNext, cur);
            if (!hit) {
              if (!certain) continue;
              return fail(h.named + ":" + std::to_string(d.line) + ": " + header + " not found");
            }
            if (d.kind == DirKind::Import && once_.count(hit->id)) {
              record(*hit);
              continue;
            }
            if (!enter(*hit, depth + 1)) return false;
            if (d.kind == DirKind::Import) once_.insert(hit->id);
          }
        }
      }
    }
    if (!conds.empty()) return fail(h.named + ": unterminated #if");
    return true;
  }

  // The operand of an #include written as "x" or <x>; empty when it is computed.
  static std::string operand(std::string_view text) {
    if (text.empty()) return {};
    char close = text[0] == '<' ? '>' : text[0] == '"' ? '"' : '\0';
    if (!close) return {};
    size_t end = text.find(close, 1);
    if (end == std::string_view::npos) return {};
    return std::string(text.substr(0, end + 1));
  }

  const ScanRequest& req_;
  FileSource& fs_;
  std::vector<std::shared_ptr<const FileInfo>> held_;   // every file walked, for as long as macros_ is
  MacroTable macros_;
  EvalContext cx_;
  const Here* here_ = nullptr;
  std::set<FileSource::Id> once_;
  std::unordered_set<std::string> recorded_;
  std::unordered_map<std::string, std::optional<Here>> resolved_;   // resolve()'s answers
  ScanResult result_;
};

}  // namespace

ScanResult scan_includes(const ScanRequest& req, FileSource& files) { return Walker(req, files).run(); }

}  // namespace zbuild::scan
