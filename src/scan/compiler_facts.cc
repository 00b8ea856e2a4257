#include "scan/compiler_facts.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include "common/command_policy.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/make_deps.h"
#include "common/paths.h"
#include "common/subprocess.h"

namespace zbuild::scan {

namespace fs = std::filesystem;

namespace {

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string normal_abs(const std::string& cwd, const std::string& p) {
  fs::path x = p.empty() || p[0] != '/' ? fs::path(cwd) / p : fs::path(p);
  std::string s = x.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

ScanOptions scan_options(const std::vector<std::string>& argv, const std::string& source) {
  ScanOptions o;
  if (argv.empty()) {
    o.unsupported = "no compiler";
    return o;
  }
  o.probe_argv.push_back(argv[0]);
  // The source: the one operand (not an option, not an option's value).
  std::string x_lang;
  std::string lang_of_source;
  size_t source_at = 0;
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string_view s = argv[i];
    if (s == "-x" && i + 1 < argv.size()) x_lang = argv[i + 1];
    else if (starts(s, "-x") && s.size() > 2) x_lang = std::string(s.substr(2));
    if (!s.empty() && s[0] == '-') {
      if (cmd::option_takes_value(s)) ++i;
      continue;
    }
    if (source_at || (!source.empty() && s != source)) {
      if (source_at) {
        o.unsupported = "several operands";
        return o;
      }
      continue;
    }
    source_at = i;
    lang_of_source = x_lang == "none" ? std::string() : x_lang;
  }
  if (!source_at) {
    o.unsupported = "no source on the command line";
    return o;
  }
  o.source = argv[source_at];
  std::string ext = o.source.substr(o.source.rfind('.') == std::string::npos ? o.source.size() : o.source.rfind('.') + 1);
  std::string driver = argv[0].substr(argv[0].rfind('/') == std::string::npos ? 0 : argv[0].rfind('/') + 1);
  bool cxx_driver = driver.find("++") != std::string::npos;
  if (lang_of_source.empty()) {
    if (ext == "c") lang_of_source = cxx_driver ? "c++" : "c";
    else if (ext == "cc" || ext == "cp" || ext == "cxx" || ext == "cpp" || ext == "CPP" || ext == "c++" || ext == "C") lang_of_source = "c++";
  }
  if (lang_of_source != "c" && lang_of_source != "c++") {
    o.unsupported = "source " + o.source + " is not C or C++ source";
    return o;
  }
  o.cplusplus = lang_of_source == "c++";
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    std::string_view s = a;
    bool sep = cmd::option_takes_value(s);
    const std::string* value = sep && i + 1 < argv.size() ? &argv[i + 1] : nullptr;
    if (sep && !value) {
      o.unsupported = "option " + a + " lacks its value";
      return o;
    }
    auto joined = [&](std::string_view opt) { return value ? *value : a.substr(opt.size()); };
    if (i == source_at) continue;
    if (s == "-imacros" || starts(s, "-imacros") || s == "-I-" || s == "-traditional" || s == "-traditional-cpp" ||
        s == "-fpreprocessed" || s == "-fdirectives-only" || s == "-trigraphs" || starts(s, "--include") ||
        s == "-Xpreprocessor" || starts(s, "-Wp,") || s == "-C" || s == "-CC" || starts(s, "-std=c89") ||
        starts(s, "-std=gnu89") || starts(s, "-std=iso9899:199409") || starts(s, "-std=c90") || s == "-ansi") {
      // -std=c89 and -ansi: no // comments in C90, which the directive lexer always takes
      o.unsupported = "option " + a;
      return o;
    }
    if (s == "-D" || (starts(s, "-D") && s.size() > 2)) {
      o.command_macros.emplace_back('D', joined("-D"));
    } else if (s == "-U" || (starts(s, "-U") && s.size() > 2)) {
      o.command_macros.emplace_back('U', joined("-U"));
    } else if (s == "-include" || (starts(s, "-include") && s.size() > 8)) {
      o.forced_includes.push_back(joined("-include"));
    } else if (s == "-o" || s == "-MF" || s == "-MT" || s == "-MQ" || starts(s, "-o") || starts(s, "-MF") ||
               starts(s, "-MT") || starts(s, "-MQ") || s == "-c" || s == "-MD" || s == "-MMD" || s == "-MP" ||
               (starts(s, "-W") && !starts(s, "-Wp,") && !starts(s, "-Wa,") && !starts(s, "-Wl,")) || starts(s, "-g") ||
               starts(s, "-fdiagnostics-") || s == "-pipe") {
      // outputs, dependency files, warnings and debug info decide nothing the scan needs
    } else {
      if (s == "-I" || (starts(s, "-I") && s.size() > 2)) o.user_dirs.push_back(joined("-I"));
      o.probe_argv.push_back(a);
      if (value) o.probe_argv.push_back(*value);
    }
    if (value) ++i;
  }
  return o;
}

Result<CompilerFacts> parse_compiler_facts(const std::string& dm, const std::string& v, const std::string& m,
                                           const std::string& cwd, const std::vector<std::string>& user_dirs) {
  CompilerFacts f;
  for (auto& dep : parse_make_deps(m)) {
    if (dep != "/dev/null") f.preincluded.push_back(normal_abs(cwd, dep));
  }
  size_t i = 0;
  while (i < dm.size()) {
    size_t end = dm.find('\n', i);
    if (end == std::string::npos) end = dm.size();
    std::string_view line(dm.data() + i, end - i);
    if (starts(line, "#define ")) f.predefined.emplace_back(line.substr(8));
    i = end + 1;
  }
  int chain = 0;   // 1: "..." chain, 2: <...> chain
  bool ended = false;
  i = 0;
  while (i < v.size()) {
    size_t end = v.find('\n', i);
    if (end == std::string::npos) end = v.size();
    std::string line = v.substr(i, end - i);
    i = end + 1;
    if (starts(line, "#include \"...\" search starts here:")) chain = 1;
    else if (starts(line, "#include <...> search starts here:")) chain = 2;
    else if (starts(line, "End of search list.")) {
      ended = true;
      chain = 0;
    } else if (chain && starts(line, " ")) {
      std::string dir = line.substr(1);
      auto paren = dir.find(" (framework directory)");
      if (paren != std::string::npos) continue;
      if (chain == 1) {
        f.paths.quote.push_back(dir);
      } else {
        std::string n = normal_abs(cwd, dir);
        bool user = false;
        for (auto& u : user_dirs) user = user || normal_abs(cwd, u) == n;
        f.paths.bracket.push_back(dir);
        f.paths.bracket_system.push_back(!user);
      }
    }
  }
  if (!ended) return Error{"the compiler did not print its search list"};
  if (f.predefined.empty()) return Error{"the compiler printed no predefined macros"};
  return f;
}

std::string encode_facts(const CompilerFacts& f) {
  std::string out = "zbuild-scan-facts 1\n";
  for (auto& q : f.paths.quote) out += "Q " + q + "\n";
  for (size_t k = 0; k < f.paths.bracket.size(); ++k) out += (f.paths.bracket_system[k] ? "S " : "B ") + f.paths.bracket[k] + "\n";
  for (auto& p : f.preincluded) out += "P " + p + "\n";
  for (auto& d : f.predefined) out += "D " + d + "\n";
  return out;
}

Result<CompilerFacts> decode_facts(const std::string& text) {
  CompilerFacts f;
  if (!starts(text, "zbuild-scan-facts 1\n")) return Error{"not a scan facts file"};
  size_t i = text.find('\n') + 1;
  while (i < text.size()) {
    size_t end = text.find('\n', i);
    if (end == std::string::npos) return Error{"torn scan facts file"};
    std::string line = text.substr(i, end - i);
    i = end + 1;
    if (line.size() < 3 || line[1] != ' ' || line.find('\0') != std::string::npos) return Error{"bad scan facts line"};
    std::string rest = line.substr(2);
    switch (line[0]) {
      case 'Q': f.paths.quote.push_back(rest); break;
      case 'B':
      case 'S':
        f.paths.bracket.push_back(rest);
        f.paths.bracket_system.push_back(line[0] == 'S');
        break;
      case 'D': f.predefined.push_back(rest); break;
      case 'P': f.preincluded.push_back(rest); break;
      default: return Error{"bad scan facts line"};
    }
  }
  if (f.predefined.empty()) return Error{"scan facts without macros"};
  return f;
}

Result<CompilerFacts> compiler_facts(const ScanOptions& o, const std::string& cwd, const std::string& compiler_id,
                                     const std::string& cache_dir, const std::vector<std::string>& env) {
  bool cplusplus = o.cplusplus;
  Hasher h;
  h.field("zbuild-scan-facts-1");
  h.field(compiler_id);
  h.field(cwd);
  h.field(cplusplus ? "c++" : "c");
  for (auto& a : o.probe_argv) h.field(a);
  h.field(env.size());
  for (auto& e : env) h.field(e);
  std::string key = h.finish().hex();
  static std::mutex mu;
  static std::map<std::string, CompilerFacts> memo;   // per process: the file is read once
  auto remember = [&](CompilerFacts f) {
    auto t = std::make_shared<MacroTable>();
    t->set_lazy_bodies(true);   // a base: the scans over it tokenize the few bodies they expand
    for (auto& d : f.predefined) t->define(d, true);
    f.table = std::move(t);
    std::lock_guard lock(mu);
    return memo.emplace(key, std::move(f)).first->second;
  };
  {
    std::lock_guard lock(mu);
    if (auto it = memo.find(key); it != memo.end()) return it->second;
  }
  // Facts steer every scan's header list (so cache keys): read and written only in a folder
  // this user alone can write (made 0700 when missing); else the compiler is asked each time.
  std::string file = cache_dir.empty() || !private_dir(cache_dir) ? std::string() : cache_dir + "/" + key;
  if (!file.empty()) {
    if (auto text = read_file(file); text.ok()) {
      if (auto f = decode_facts(text.value()); f.ok()) return remember(std::move(f.value()));
    }
  }
  auto ask = [&](std::initializer_list<const char*> extra) -> Result<ProcessResult> {
    ProcessSpec ps;
    ps.argv = o.probe_argv;
    for (const char* a : extra) ps.argv.push_back(a);
    for (const char* a : {"-x", cplusplus ? "c++" : "c", "/dev/null"}) ps.argv.push_back(a);
    ps.cwd = cwd;
    ps.env = env;
    ps.use_env = !env.empty();
    ps.timeout_ms = 60000;
    auto r = run_process(ps);
    if (r.ok() && r.value().exit_code != 0) return Error{"the compiler's probe failed: " + r.value().err.substr(0, 400)};
    return r;
  };
  auto dm = ask({"-E", "-dM", "-v"});
  if (!dm.ok()) return dm.error();
  auto deps = ask({"-M"});
  if (!deps.ok()) return deps.error();
  std::vector<std::string> user;
  for (auto& u : o.user_dirs) user.push_back(normal_abs(cwd, u));
  auto f = parse_compiler_facts(dm.value().out, dm.value().err, deps.value().out, cwd, user);
  if (!f.ok()) return f;
  if (!file.empty()) {
    (void)write_file_atomic(file, encode_facts(f.value()));
  }
  return remember(std::move(f.value()));
}

bool builtin_scan_enabled() {
  const char* m = std::getenv("ZBUILD_SCAN");
  return !(m && std::string_view(m) == "compiler");
}

std::string facts_cache_dir() {
  const char* c = std::getenv("ZBUILD_SCAN_CACHE");
  if (c && std::string_view(c) == "off") return {};
  return c && *c ? std::string(c) : user_cache_path("scan-1");
}

ScanRequest scan_request(ScanOptions o, CompilerFacts f, const std::string& cwd) {
  ScanRequest req;
  req.cwd = cwd;
  req.source = std::move(o.source);
  req.cplusplus = o.cplusplus;
  req.paths = std::move(f.paths);
  req.predefined = std::move(f.predefined);
  req.predefined_table = std::move(f.table);
  req.preincluded = std::move(f.preincluded);
  req.command_macros = std::move(o.command_macros);
  req.forced_includes = std::move(o.forced_includes);
  return req;
}

}  // namespace zbuild::scan
