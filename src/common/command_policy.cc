#include "common/command_policy.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "common/fs.h"
#include "common/text.h"

namespace zbuild::cmd {

namespace {

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string_view base_name(std::string_view p) {
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}


}  // namespace

bool is_c_compiler(std::string_view argv0) {
  std::string_view base = base_name(argv0);
  for (std::string_view n : {"gcc", "g++", "clang", "clang++", "cc", "c++"}) {
    for (size_t pos = base.find(n); pos != std::string_view::npos; pos = base.find(n, pos + 1)) {
      size_t end = pos + n.size();
      bool left_ok = pos == 0 || base[pos - 1] == '-';
      bool right_ok = end == base.size() || base[end] == '-';
      if (left_ok && right_ok) return true;
    }
  }
  return false;
}

bool toolchain_program(std::string_view argv0) {
  static const char* const kTools[] = {"ar",      "ranlib", "ld",      "ld.bfd", "ld.gold", "ld.lld",
                                       "as",      "strip",  "objcopy", "nm",     "gcc-ar",  "gcc-ranlib"};
  std::string_view base = base_name(argv0);
  return is_c_compiler(argv0) || std::any_of(std::begin(kTools), std::end(kTools), [&](const char* t) { return base == t; });
}

bool program_allowed_by(std::string_view argv0, const std::vector<std::string>& extra, bool any_program) {
  if (any_program || toolchain_program(argv0)) return true;
  std::string_view base = base_name(argv0);
  return std::any_of(extra.begin(), extra.end(), [&](const std::string& e) { return e == base || e == argv0; });
}

const std::vector<std::string_view>& compiler_env_names() {
  static const std::vector<std::string_view> kNames = {"LANG",      "LC_ALL",           "LC_CTYPE", "LC_MESSAGES",
                                                       "GCC_COLORS", "SOURCE_DATE_EPOCH", "TZ"};
  return kNames;
}

std::vector<std::string> compiler_env() {
  std::vector<std::string> out;
  for (auto name : compiler_env_names()) {
    std::string k(name);
    if (const char* v = std::getenv(k.c_str())) out.push_back(k + "=" + v);
  }
  return out;
}

const std::vector<std::string_view>& local_only_env_names() {
  static const std::vector<std::string_view> kNames = {"CPATH",      "C_INCLUDE_PATH",      "CPLUS_INCLUDE_PATH",
                                                       "OBJC_INCLUDE_PATH", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES",
                                                       "GCC_EXEC_PREFIX",   "COMPILER_PATH"};
  return kNames;
}

bool option_takes_value(std::string_view s) {
  static const std::set<std::string_view> kWithValue = {
      "-o", "-x", "-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-iprefix", "-iwithprefix",
      "-iwithprefixbefore", "-isysroot", "-imultilib", "-D", "-U", "-MF", "-MT", "-MQ", "--param", "-L",
      "-l", "-Xlinker", "-Xclang", "-target", "-arch", "-T", "-u", "-z", "-e", "--sysroot",
      "-aux-info", "-Xassembler", "-Xpreprocessor", "-B", "-specs", "--specs", "-dumpbase", "-dumpdir",
      "-dumpbase-ext", "-G", "-A", "-mllvm", "-wrapper", "-MJ"};
  return kWithValue.count(s) > 0;
}

bool is_compile(const std::vector<std::string>& argv) {
  if (argv.empty() || !is_c_compiler(argv[0])) return false;
  return std::any_of(argv.begin() + 1, argv.end(), [](const std::string& a) { return a == "-c" || a == "-S" || a == "-E"; });
}

bool compiles_code(const std::vector<std::string>& argv) {
  if (argv.empty() || !is_c_compiler(argv[0])) return false;
  bool code = false;
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == "-E") return false;
    if (argv[i] == "-c" || argv[i] == "-S") code = true;
  }
  return code;
}

bool compiles_object(const std::vector<std::string>& argv) {
  return !argv.empty() && is_c_compiler(argv[0]) && std::find(argv.begin() + 1, argv.end(), "-c") != argv.end();
}

std::optional<std::string> refused_env(std::string_view n) {
  if (starts(n, "LD_")) return "a dynamic-loader variable";
  static const char* const kExact[] = {"GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH", "HOSTALIASES",
                                       "RESOLV_HOST_CONF", "RES_OPTIONS", "LOCALDOMAIN", "TZDIR",
                                       "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "CDPATH",
                                       "NODE_OPTIONS", "NODE_PATH", "RUBYOPT", "RUBYLIB", "LUA_INIT", "TCLLIBPATH",
                                       "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "GCC_EXEC_PREFIX", "COMPILER_PATH",
                                       "PATH", "HOME", "TMPDIR", "PWD"};
  for (const char* e : kExact) {
    if (n == e) {
      if (n == "GCC_EXEC_PREFIX" || n == "COMPILER_PATH" || n == "PATH") return "it chooses which programs run";
      if (n == "HOME" || n == "TMPDIR" || n == "PWD") return "the worker sets it";
      return "it makes a library or interpreter load code";
    }
  }
  static const char* const kPrefix[] = {"MALLOC_", "PYTHON", "PERL5", "PERLLIB", "BASH_FUNC_", "GIO_", "GTK_"};
  for (const char* p : kPrefix) {
    if (starts(n, p)) return "it makes a library or interpreter load code";
  }
  return std::nullopt;
}

Status check_env(const std::vector<std::string>& env) {
  for (auto& e : env) {
    std::string_view name = std::string_view(e).substr(0, e.find('='));
    if (name.empty() || e.find('=') == std::string::npos) return make_error("environment entry '" + e + "' is not NAME=value");
    if (auto why = refused_env(name)) {
      return make_error("environment variable " + std::string(name) + " is refused (" + *why + ")");
    }
  }
  return {};
}

std::vector<std::string> split_response(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  bool have = false, sq = false, dq = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!sq && !dq && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')) {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
      continue;
    }
    have = true;
    if (c == '\\' && i + 1 < text.size()) {
      cur.push_back(text[++i]);
    } else if (sq) {
      if (c == '\'') sq = false;
      else cur.push_back(c);
    } else if (dq) {
      if (c == '"') dq = false;
      else cur.push_back(c);
    } else if (c == '\'') {
      sq = true;
    } else if (c == '"') {
      dq = true;
    } else {
      cur.push_back(c);
    }
  }
  if (have) out.push_back(cur);
  return out;
}

Result<std::vector<std::string>> expand_response_files(const std::vector<std::string>& argv, const ResponseReader& read) {
  std::vector<std::string> out;
  std::vector<std::string> work(argv.rbegin(), argv.rend());   // a stack, next argument last
  size_t expanded = 0;
  while (!work.empty()) {
    std::string a = std::move(work.back());
    work.pop_back();
    if (a.size() > 1 && a[0] == '@' && !out.empty()) {
      auto text = read(a.substr(1));
      if (!text.ok()) return make_error("response file " + a + ": " + text.error().message);
      if (text.value()) {
        if (++expanded > 64) return make_error("response files nest too deeply at " + a);
        auto parts = split_response(*text.value());
        for (auto it = parts.rbegin(); it != parts.rend(); ++it) work.push_back(*it);
        continue;
      }
    }
    out.push_back(std::move(a));
  }
  return out;
}

Result<std::vector<std::string>> expand_response_files(const std::vector<std::string>& argv, const std::string& cwd) {
  return expand_response_files(argv, [&](const std::string& p) -> Result<std::optional<std::string>> {
    std::string path = p[0] != '/' && !cwd.empty() ? cwd + "/" + p : p;
    auto text = read_file(path);
    if (!text.ok()) return std::optional<std::string>();   // kept literally, as gcc does
    return std::optional<std::string>(std::move(text.value()));
  });
}

const std::vector<std::string>& refused_option_names() {
  static const std::vector<std::string> names = {"-wrapper", "-B", "--prefix", "-fplugin", "-specs", "--gcc-toolchain",
                                                 "--gcc-install-dir", "-ccc", "--ld-path", "-fuse-ld",
                                                 "-fpass-plugin", "-Xclang", "-mllvm", "-plugin"};
  return names;
}

namespace {

// The name of the refused option `a` (with `next` the following argument), or empty.
std::string refused_name(std::string_view a, std::string_view next) {
  if (a == "-wrapper" || starts(a, "-wrapper=")) return "-wrapper";
  if (starts(a, "-B")) return "-B";
  if (a == "--prefix" || starts(a, "--prefix=")) return "--prefix";
  if (starts(a, "-fplugin")) return "-fplugin";
  if (starts(a, "-specs") || starts(a, "--specs")) return "-specs";
  if (starts(a, "--gcc-toolchain") || starts(a, "-gcc-toolchain")) return "--gcc-toolchain";
  if (starts(a, "--gcc-install-dir")) return "--gcc-install-dir";
  if (starts(a, "-ccc-")) return "-ccc";
  if (starts(a, "--ld-path")) return "--ld-path";
  if (starts(a, "-fuse-ld=") && a.find('/') != std::string_view::npos) return "-fuse-ld";
  if (starts(a, "-fpass-plugin")) return "-fpass-plugin";
  if (a == "-Xclang" && (starts(next, "-load") || starts(next, "-plugin") || starts(next, "-add-plugin") ||
                         starts(next, "-fpass-plugin") || starts(next, "-fplugin"))) {
    return "-Xclang";
  }
  if (a == "-mllvm" && (starts(next, "-load") || starts(next, "--load"))) return "-mllvm";
  auto plugin = [](std::string_view s) {
    return s == "-plugin" || s == "--plugin" || starts(s, "-plugin=") || starts(s, "--plugin=");
  };
  if (plugin(a) || (a == "-Xlinker" && plugin(next))) return "-plugin";   // ld, ar, nm, ranlib take --plugin
  if (starts(a, "-Wl,")) {
    for (auto piece : split(a.substr(4), ',')) {
      if (plugin(piece)) return "-plugin";
    }
  }
  return {};
}

}  // namespace

Status check_compiler_options(const std::vector<std::string>& argv, const std::set<std::string>& allowed) {
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string_view a = argv[i];
    std::string_view next = i + 1 < argv.size() ? std::string_view(argv[i + 1]) : std::string_view();
    std::string name = refused_name(a, next);
    // Options handed to the preprocessor or the compiler proper are checked the same way.
    if (name.empty() && (starts(a, "-Wp,") || a == "-Xpreprocessor")) {
      std::vector<std::string> inner = {"cc"};
      if (a == "-Xpreprocessor") inner.emplace_back(next);
      else for (auto p : split(a.substr(4), ',')) inner.emplace_back(p);
      auto st = check_compiler_options(inner, allowed);
      if (!st.ok()) return st;
    }
    if (name.empty() || allowed.count(name)) continue;
    std::string shown(a);
    if (name == "-Xclang" || name == "-mllvm" || (a == "-Xlinker")) shown += " " + std::string(next);
    return make_error("compiler option '" + shown + "' is refused: it makes the compiler run another program or load "
                      "code (a worker's operator may allow it with --allow-option " + name + ")");
  }
  return {};
}

}  // namespace zbuild::cmd
