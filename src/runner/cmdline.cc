#include "runner/cmdline.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "common/command_policy.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/make_deps.h"
#include "proto/root_free.h"

namespace zbuild::runner {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Options that make a compile unfit to run elsewhere: other outputs, other modes, files the
// runner cannot see, or output that names local paths.
constexpr std::array<std::string_view, 28> kLocalExact = {
    "-E", "-S", "-M", "-MM", "-MG", "-fsyntax-only", "-save-temps", "--save-temps", "-v", "-###", "-H",
    "--coverage", "-ftest-coverage", "-fprofile-arcs", "-gsplit-dwarf", "-fstack-usage", "-frecord-gcc-switches",
    "-Xpreprocessor", "-Xassembler", "-aux-info", "-traditional", "-Q", "-time", "-fbranch-probabilities",
    "--help", "--version", "-dumpversion", "-dumpmachine"};
constexpr std::array<std::string_view, 22> kLocalPrefix = {
    "-save-temps=", "-fprofile-", "-fauto-profile", "-fdump-", "-fcallgraph-info", "-fopt-info", "-fplugin",
    "-specs", "-B", "-Wp,", "-fsanitize-blacklist", "-fsanitize-ignorelist", "-fxray", "-print-", "-fmodule",
    "-MJ", "-fcoverage", "-d", "-ftime-trace", "-fcreate-profile", "-time=", "--help="};
// Option families a compile may carry to a worker unchanged.
constexpr std::array<std::string_view, 33> kRemotePrefix = {
    "-D", "-U", "-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-iprefix", "-iwithprefix",
    "-isysroot", "--sysroot", "-f", "-m", "-W", "-O", "-g", "-std=", "-pedantic", "-ansi", "-w", "-pthread",
    "-pipe", "-nostdinc", "-l", "-L", "-Xlinker", "-Xclang", "-target", "--target=", "--param", "-A", "-no-pie"};
constexpr std::array<std::string_view, 10> kRemoteExact = {"-static", "-shared", "-rdynamic", "-s", "-pie", "-C",
                                                           "-P", "-trigraphs", "-undef", "-arch"};

template <size_t N>
bool in(const std::array<std::string_view, N>& set, std::string_view s) {
  return std::find(set.begin(), set.end(), s) != set.end();
}
template <size_t N>
bool has_prefix(const std::array<std::string_view, N>& set, std::string_view s) {
  return std::any_of(set.begin(), set.end(), [&](std::string_view p) { return starts_with(s, p); });
}

std::string_view extension(std::string_view path) {
  auto slash = path.rfind('/');
  auto dot = path.rfind('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) return {};
  return path.substr(dot + 1);
}

std::string strip_extension(const std::string& path) {
  auto slash = path.rfind('/');
  auto dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path;
  return path.substr(0, dot);
}

std::string basename_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// The language gcc infers from a source name; nullopt-like false when it is not C/C++.
bool lang_from_extension(std::string_view ext, Lang* out) {
  if (ext == "c") *out = Lang::C;
  else if (ext == "cc" || ext == "cp" || ext == "cxx" || ext == "cpp" || ext == "CPP" || ext == "c++" || ext == "C")
    *out = Lang::Cxx;
  else if (ext == "i" || ext == "ii") *out = Lang::Preprocessed;
  else return false;
  return true;
}

bool lang_from_x(std::string_view x, Lang* out, bool* none) {
  *none = false;
  if (x == "c") *out = Lang::C;
  else if (x == "c++") *out = Lang::Cxx;
  else if (x == "cpp-output" || x == "c++-cpp-output") *out = Lang::Preprocessed;
  else if (x == "none") *none = true;
  else return false;
  return true;
}

Analysis local(std::string why) {
  Analysis a;
  a.why_local = std::move(why);
  return a;
}

}  // namespace

Analysis analyze(const std::vector<std::string>& raw, const std::string& cwd) {
  if (raw.size() < 2) return local("no arguments");
  auto expanded = cmd::expand_response_files(raw, cwd);
  if (!expanded.ok()) return local(expanded.error().message);
  const std::vector<std::string>& argv = expanded.value();
  // Options that make the compiler run another program or load code (-wrapper, -B, -fplugin,
  // -specs, ..., also inside response files) run here, as the user's build asked, and are
  // never shipped to a worker.
  if (auto st = cmd::check_compiler_options(argv); !st.ok()) return local(st.error().message);

  Analysis res;
  Compile& c = res.compile;
  c.argv = argv;
  bool has_c = false, has_o = false, md_seen = false;
  Lang x_lang = Lang::C;
  bool x_set = false;
  std::vector<std::pair<std::string, Lang>> sources;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    std::string_view s = a;
    bool separate = cmd::option_takes_value(s);
    const std::string* value = nullptr;
    if (separate) {
      if (i + 1 >= argv.size()) return local("option " + a + " lacks its value");
      value = &argv[i + 1];
    }
    if (s.empty() || s[0] != '-' || s == "-") {
      if (s == "-") return local("reads stdin");
      Lang l;
      bool known = x_set || lang_from_extension(extension(s), &l);
      if (!known) return local("input '" + a + "' is not a C or C++ source");
      sources.emplace_back(a, x_set ? x_lang : l);
      continue;
    }
    if (s == "-c") {
      has_c = true;
    } else if (s == "-o" || (starts_with(s, "-o") && s.size() > 2)) {
      if (has_o) return local("several -o");
      has_o = true;
      c.object = value ? *value : a.substr(2);
    } else if (s == "-x" || (starts_with(s, "-x") && s.size() > 2)) {
      bool none = false;
      if (!lang_from_x(value ? *value : s.substr(2), &x_lang, &none)) return local("language " + a + " is not C/C++");
      x_set = !none;
    } else if (s == "-MD" || s == "-MMD") {
      c.deps.md = true;
      md_seen = true;
      c.deps.system = s == "-MD";
    } else if (s == "-MP") {
      c.deps.phony = true;
    } else if (starts_with(s, "-MF")) {
      c.deps.file = value ? *value : a.substr(3);
    } else if (starts_with(s, "-MT") || starts_with(s, "-MQ")) {
      c.deps.targets.emplace_back(a.substr(0, 3), value ? *value : a.substr(3));
    } else if (s == "-fdiagnostics-color" || s == "-fdiagnostics-color=always" ||
               s == "-fdiagnostics-color=never" || s == "-fno-diagnostics-color") {
      c.color_auto = false;
    } else if (s == "-fdiagnostics-color=auto") {
      c.color_auto = true;
    } else if (in(kLocalExact, s) || has_prefix(kLocalPrefix, s)) {
      return local("option " + a);
    } else if (!(in(kRemoteExact, s) || has_prefix(kRemotePrefix, s))) {
      return local("unknown option " + a);
    }
    if (separate) ++i;
  }
  if (!has_c) return local("not a compile (-c missing)");
  if (sources.size() != 1) return local(sources.empty() ? "no source file" : "several source files");
  if (!md_seen && (!c.deps.file.empty() || !c.deps.targets.empty() || c.deps.phony)) {
    return local("-MF/-MT/-MQ/-MP without -MD or -MMD");
  }
  c.source = sources[0].first;
  c.lang = sources[0].second;
  if (!has_o) c.object = strip_extension(basename_of(c.source)) + ".o";
  if (c.deps.md && c.deps.file.empty()) {
    c.deps.file = has_o ? strip_extension(c.object) + ".d" : strip_extension(basename_of(c.source)) + ".d";
  }
  res.remote = true;
  return res;
}

std::vector<std::string> Compile::remote_argv(bool want_color) const {
  std::vector<std::string> out;
  out.reserve(argv.size() + 1);
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string_view s = argv[i];
    if (i > 0 && (s == "-MD" || s == "-MMD" || s == "-MP")) continue;
    if (i > 0 && (s == "-MF" || s == "-MT" || s == "-MQ")) {
      ++i;
      continue;
    }
    if (i > 0 && (starts_with(s, "-MF") || starts_with(s, "-MT") || starts_with(s, "-MQ"))) continue;
    out.push_back(argv[i]);
  }
  if (want_color) out.push_back("-fdiagnostics-color=always");
  return out;
}

std::optional<std::vector<std::string>> Compile::remote_argv_as(bool want_color, const std::string& object_as) const {
  std::vector<std::string> out = remote_argv(want_color);
  bool named = false;
  for (size_t i = 1; i < out.size(); ++i) {
    std::string_view s = out[i];
    if (s == "-frecord-command-line" || s == "-grecord-command-line") return std::nullopt;
    if (cmd::option_takes_value(s) && s != "-o") {
      ++i;   // a value, even one that reads like an option
      continue;
    }
    if (s == "-o" && i + 1 < out.size()) {
      out[++i] = object_as;
      named = true;
    } else if (starts_with(s, "-o") && s.size() > 2) {
      out[i] = "-o" + object_as;
      named = true;
    }
  }
  if (!named) return std::nullopt;
  return out;
}

std::optional<std::string> Compile::object_name(bool want_color, const std::string& prefix, const std::string& root,
                                                const std::string& cwd, const std::string& extra) const {
  auto probe = remote_argv_as(want_color, "-");
  if (!probe) return std::nullopt;
  Hasher h;
  h.field(prefix + "1");   // the scheme's version: a new one names every object anew
  for (auto& x : *probe) h.field(without_root(x, root));
  h.field(cwd);
  if (!extra.empty()) h.field(extra);
  return prefix + h.finish().hex().substr(0, 16) + ".o";
}

std::vector<std::string> Compile::scan_argv(const std::string& depfile) const {
  std::vector<std::string> out;
  out.reserve(argv.size() + 8);
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string_view s = argv[i];
    if (i > 0 && (s == "-c" || s == "-MD" || s == "-MMD" || s == "-MP")) continue;
    if (i > 0 && (s == "-o" || s == "-MF" || s == "-MT" || s == "-MQ")) {
      ++i;
      continue;
    }
    if (i > 0 && (starts_with(s, "-o") || starts_with(s, "-MF") || starts_with(s, "-MT") || starts_with(s, "-MQ")))
      continue;
    out.push_back(argv[i]);
  }
  out.push_back(deps.md && !deps.system ? "-MM" : "-M");
  if (deps.phony) out.push_back("-MP");
  if (deps.targets.empty()) {
    out.push_back("-MQ");
    out.push_back(object);
  }
  for (auto& [opt, value] : deps.targets) {
    out.push_back(opt);
    out.push_back(value);
  }
  out.push_back("-MF");
  out.push_back(depfile);
  if (deps.md && !deps.system) out.push_back("-H");
  return out;
}

std::vector<std::string> depfile_inputs(const std::string& text) {
  size_t end = 0;
  while (end < text.size()) {
    if (text[end] == '\\' && end + 1 < text.size()) {
      end += 2;   // an escaped character or a line continuation
      continue;
    }
    if (text[end] == '\n') break;
    ++end;
  }
  return parse_make_deps(text.substr(0, end));
}

std::vector<std::string> parse_dash_h(const std::string& err) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < err.size()) {
    size_t end = err.find('\n', i);
    if (end == std::string::npos) end = err.size();
    size_t j = i;
    while (j < end && err[j] == '.') ++j;
    if (j > i && j + 1 < end && err[j] == ' ') out.push_back(err.substr(j + 1, end - j - 1));
    i = end + 1;
  }
  return out;
}

}  // namespace zbuild::runner
