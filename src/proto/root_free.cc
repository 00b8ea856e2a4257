#include "proto/root_free.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/command_policy.h"
#include "common/paths.h"

namespace zbuild {

namespace fs = std::filesystem;

namespace {

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string_view base_name(std::string_view p) {
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

// Options whose separate value is a path the prefix map covers (or a depfile target, which the
// worker rewrites); their joined forms (-Ifoo, --sysroot=foo) below.
const std::set<std::string_view> kPathOptions = {"-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros",
                                                 "-o", "-MF", "-MT", "-MQ", "-isysroot", "--sysroot"};
const std::string_view kJoinedPathOptions[] = {"-isystem", "-iquote", "-idirafter", "-isysroot", "--sysroot=",
                                               "-I", "-o", "-MF", "-MT", "-MQ"};
// Options whose separate value is anything else: a root there keeps the root in the key.
const std::set<std::string_view> kValueOptions = {
    "-D", "-U", "-A", "-x", "-Xpreprocessor", "-Xassembler", "-Xlinker", "-Xclang", "-aux-info", "--param", "-target",
    "-arch", "-mllvm", "-L", "-l", "-T", "-u", "-e", "-z", "-wrapper", "-dumpbase", "-dumpdir", "-iprefix",
    "-iwithprefix", "-iwithprefixbefore", "-imultilib", "-MJ", "-specs", "--specs"};
// Options that write paths the map does not cover, or the command line itself.
const std::set<std::string_view> kUnsafe = {"-frecord-gcc-switches", "-grecord-gcc-switches", "-grecord-command-line",
                                            "-frecord-command-line", "--coverage", "-ftest-coverage", "-E",
                                            "-fprofile-arcs"};
const std::string_view kUnsafePrefixes[] = {"-fprofile-", "-fcoverage-", "-save-temps", "-gsplit-dwarf", "-flto"};

bool unsafe_option(std::string_view s) {
  if (kUnsafe.count(s)) return true;
  return std::any_of(std::begin(kUnsafePrefixes), std::end(kUnsafePrefixes), [&](auto p) { return starts(s, p); });
}

bool is_source(std::string_view s) {
  static const char* const kExt[] = {".c", ".cc", ".cpp", ".cxx", ".c++", ".C", ".cp", ".CPP", ".m", ".mm", ".M",
                                     ".i", ".ii", ".s", ".S", ".sx"};
  auto dot = s.rfind('.');
  if (dot == std::string_view::npos || s.find('/', dot) != std::string_view::npos) return false;
  auto ext = s.substr(dot);
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* e) { return ext == e; });
}

// Positions where `root` occurs ending at a path boundary: '/', the end, or '=' (the root's own
// prefix map). Only these are replaced in a key; any other occurrence stays in it as it is, so
// it cannot make two checkouts share a key.
std::vector<size_t> occurrences(std::string_view s, std::string_view root) {
  std::vector<size_t> out;
  for (size_t j = s.find(root); j != std::string_view::npos; j = s.find(root, j + 1)) {
    size_t end = j + root.size();
    if (end == s.size() || s[end] == '/' || s[end] == '=') out.push_back(j);
  }
  return out;
}

// Every occurrence of the root in a compile's argv is the start of a path the map covers.
bool compile_root_free(const ActionSpec& a) {
  const std::string map = root_prefix_map(a.root);
  bool mapped = false;
  for (size_t i = 1; i < a.argv.size(); ++i) {
    std::string_view s = a.argv[i];
    if (s == map) {
      mapped = true;
      continue;
    }
    if (unsafe_option(s)) return false;
    size_t value_at = 0;
    bool path_value = false;
    if (kPathOptions.count(s) && i + 1 < a.argv.size()) {
      s = a.argv[++i];
      path_value = true;
    } else if (kValueOptions.count(s) && i + 1 < a.argv.size()) {
      s = a.argv[++i];
    } else if (!s.empty() && s[0] != '-') {
      path_value = true;   // the source (a positional argument)
    } else {
      for (auto p : kJoinedPathOptions) {
        if (starts(s, p) && s.size() > p.size()) {
          value_at = p.size();
          path_value = true;
          break;
        }
      }
    }
    auto occ = occurrences(s, a.root);
    if (occ.empty()) continue;
    if (!path_value || occ.size() != 1 || occ[0] != value_at) return false;
  }
  return mapped;
}

bool is_assembler(std::string_view argv0) {
  auto b = base_name(argv0);
  return b == "as" || (b.size() > 3 && b.substr(b.size() - 3) == "-as");
}

// A link or archive by a toolchain program that does not name the root and compiles nothing.
bool link_root_free(const ActionSpec& a) {
  if (!cmd::toolchain_program(a.argv[0]) || is_assembler(a.argv[0])) return false;
  bool driver = cmd::is_c_compiler(a.argv[0]);
  for (size_t i = 1; i < a.argv.size(); ++i) {
    const std::string& s = a.argv[i];
    if (!occurrences(s, a.root).empty()) return false;
    if (!driver) continue;
    if (s == "-c" || s == "-S" || unsafe_option(s)) return false;
    if (kValueOptions.count(s) || kPathOptions.count(s)) {
      ++i;
      continue;
    }
    if (!s.empty() && s[0] != '-' && is_source(s)) return false;
  }
  return true;
}

// CMake's archive step, `sh -c 'cmake -E rm -f LIB && ar qc LIB OBJS && ranlib LIB'` (its
// Ninja and Makefile generators write it so): simple commands joined by "&&", each `:`, a
// `cmake -E rm -f`, an archiver or ranlib, with words free of shell expansion, quoting and
// redirection, and no word naming the root. Such a script writes nothing that depends on its
// folder (ar keeps members' names, not their folders), so it is shared like an archive.
bool archive_script_root_free(const ActionSpec& a) {
  return !archive_script_programs(a.argv).empty() && occurrences(a.argv[2], a.root).empty();
}

}  // namespace

std::vector<std::string> archive_script_programs(const std::vector<std::string>& argv) {
  if (argv.size() != 3 || base_name(argv[0]) != "sh" || argv[1] != "-c") return {};
  const std::string& script = argv[2];
  if (script.find_first_of("$`;|<>()'\"\\*?[]{}~#\n\t") != std::string::npos) return {};
  std::vector<std::vector<std::string_view>> cmds(1);
  for (size_t i = 0; i < script.size();) {
    size_t j = script.find(' ', i);
    if (j == std::string::npos) j = script.size();
    std::string_view w = std::string_view(script).substr(i, j - i);
    i = j + 1;
    if (w.empty()) continue;
    if (w == "&&") {
      cmds.emplace_back();
      continue;
    }
    if (w.find('&') != std::string_view::npos) return {};
    cmds.back().push_back(w);
  }
  std::vector<std::string> programs{argv[0]};
  for (auto& c : cmds) {
    if (c.empty()) return {};
    std::string_view prog = base_name(c[0]);
    if (c.size() == 1 && prog == ":") continue;
    bool archiver = prog == "ar" || prog == "gcc-ar" || prog == "llvm-ar" || prog == "ranlib" ||
                    prog == "gcc-ranlib" || prog == "llvm-ranlib" ||
                    (starts(prog, "x86_64-linux-gnu-") && (prog.ends_with("-ar") || prog.ends_with("-ranlib")));
    bool cmake_rm = prog == "cmake" && c.size() >= 4 && c[1] == "-E" && c[2] == "rm" && c[3] == "-f";
    if (!archiver && !cmake_rm) return {};
    programs.emplace_back(c[0]);
  }
  return programs;
}

bool root_mappable(std::string_view root) {
  if (root.size() < 2 || root[0] != '/' || root.back() == '/') return false;
  for (char c : root) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '+' || c == ',' || c == '@' || c == '~' || c == '/' || c == '-';
    if (!ok) return false;
  }
  // Already in normal form: no empty, "." or ".." component (checked on the string: this runs
  // for every task a worker starts).
  for (size_t i = 1; i <= root.size();) {
    size_t end = root.find('/', i);
    if (end == std::string_view::npos) end = root.size();
    std::string_view part = root.substr(i, end - i);
    if (part.empty() || part == "." || part == "..") return false;
    i = end + 1;
  }
  return true;
}

std::string root_prefix_map(std::string_view root) { return "-ffile-prefix-map=" + std::string(root) + "=."; }

bool compiles_code(const std::vector<std::string>& argv) { return cmd::compiles_code(argv); }

bool add_root_prefix_map(std::vector<std::string>& argv, std::string_view root) {
  if (!root_mappable(root) || !compiles_code(argv)) return false;
  std::string map = root_prefix_map(root);
  if (std::find(argv.begin(), argv.end(), map) == argv.end()) argv.insert(argv.begin() + 1, map);
  return true;
}

bool root_free(const ActionSpec& a) {
  if (a.argv.empty() || !root_mappable(a.root)) return false;
  // A host file (the compiler, a system header) under the root would be mapped as well: its
  // path in the output would depend on the root (a client may name any root, /usr/include too).
  for (auto& f : a.host_files) {
    if (!occurrences(f.path, a.root).empty()) return false;
  }
  for (auto& e : a.env) {
    if (starts(e, "DEPENDENCIES_OUTPUT=") || starts(e, "SUNPRO_DEPENDENCIES=")) return false;
    if (!occurrences(e, a.root).empty()) return false;
  }
  if (archive_script_root_free(a)) return true;
  return compiles_code(a.argv) ? compile_root_free(a) : link_root_free(a);
}

std::string without_root(std::string_view s, std::string_view root) {
  if (root.empty()) return std::string(s);
  std::string out;
  size_t from = 0;
  for (size_t j : occurrences(s, root)) {
    if (j < from) continue;
    out.append(s.substr(from, j - from));
    out.append(kRootPlaceholder);
    from = j + root.size();
  }
  out.append(s.substr(from));
  return out;
}

std::string with_root(std::string_view s, std::string_view root) {
  std::string out;
  size_t from = 0;
  for (size_t j = s.find(kRootPlaceholder); j != std::string_view::npos; j = s.find(kRootPlaceholder, from)) {
    out.append(s.substr(from, j - from));
    out.append(root);
    from = j + kRootPlaceholder.size();
  }
  out.append(s.substr(from));
  return out;
}

std::vector<std::string> depfile_outputs(const ActionSpec& a) {
  std::vector<std::string> files;
  std::string object, source;
  bool md = false, mf = false;
  for (size_t i = 1; i < a.argv.size(); ++i) {
    std::string_view s = a.argv[i];
    auto next = [&]() -> std::string_view { return i + 1 < a.argv.size() ? std::string_view(a.argv[++i]) : ""; };
    if (s == "-MD" || s == "-MMD") md = true;
    else if (s == "-MF") files.emplace_back(next()), mf = true;
    else if (starts(s, "-MF")) files.emplace_back(s.substr(3)), mf = true;
    else if (s == "-o") object = next();
    else if (starts(s, "-o")) object = s.substr(2);
    else if (starts(s, "-Wp,-MD,") || starts(s, "-Wp,-MMD,")) files.emplace_back(s.substr(s.find(',', 4) + 1));
    else if (kPathOptions.count(s) || kValueOptions.count(s)) next();
    else if (!s.empty() && s[0] != '-' && is_source(s)) source = s;
  }
  if (md && !mf) {
    std::string base = !object.empty() ? object : std::string(base_name(source));
    if (!base.empty()) {
      auto dot = base.rfind('.');
      if (dot != std::string::npos && base.find('/', dot) == std::string::npos) base.resize(dot);
      files.push_back(base + ".d");
    }
  }
  std::vector<std::string> out;
  for (auto& f : files) {
    if (f.empty()) continue;
    auto rel = relative_to_root(a.root.empty() ? fs::path("/") : fs::path(a.root), a.cwd, f, "depfile");
    if (rel.ok()) out.push_back(rel.value());
  }
  return out;
}

std::string relativize_depfile(std::string_view text, const std::vector<std::string>& prefixes, std::string_view cwd) {
  std::vector<std::string> cwd_parts;
  for (auto& part : fs::path(std::string(cwd)).lexically_normal()) {
    if (part != "." && !part.empty()) cwd_parts.push_back(part.string());
  }
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    // At the start of a word: after unescaped blank space (or the start of the text).
    bool word_start = i == 0 || text[i - 1] == '\n' ||
                      ((text[i - 1] == ' ' || text[i - 1] == '\t') && (i < 2 || text[i - 2] != '\\'));
    const std::string* hit = nullptr;
    if (word_start) {
      for (auto& p : prefixes) {
        if (p.size() > 1 && text.substr(i, p.size()) == p &&
            (i + p.size() == text.size() || text[i + p.size()] == '/' || text[i + p.size()] == ' ' ||
             text[i + p.size()] == '\t' || text[i + p.size()] == '\n' || text[i + p.size()] == ':')) {
          hit = &p;
          break;
        }
      }
    }
    if (!hit) {
      out.push_back(text[i++]);
      continue;
    }
    // The rest of the word: up to unescaped blank space; its components as written (escaped).
    size_t j = i + hit->size();
    while (j < text.size() && !((text[j] == ' ' || text[j] == '\t' || text[j] == '\n') && text[j - 1] != '\\')) ++j;
    std::string_view rest = text.substr(i + hit->size(), j - i - hit->size());   // "" or "/a/b" or ":"
    std::string_view tail;   // a target's ':' stays after the path
    if (!rest.empty() && rest.back() == ':') {
      tail = rest.substr(rest.size() - 1);
      rest.remove_suffix(1);
    }
    std::vector<std::string_view> parts;
    for (size_t k = 0; k < rest.size();) {
      size_t e = rest.find('/', k);
      if (e == std::string_view::npos) e = rest.size();
      if (e > k) parts.push_back(rest.substr(k, e - k));
      k = e + 1;
    }
    size_t common = 0;
    while (common < cwd_parts.size() && common < parts.size() && cwd_parts[common] == parts[common]) ++common;
    std::string rel;
    for (size_t k = common; k < cwd_parts.size(); ++k) rel += rel.empty() ? ".." : "/..";
    for (size_t k = common; k < parts.size(); ++k) {
      if (!rel.empty()) rel += '/';
      rel.append(parts[k]);
    }
    out += rel.empty() ? "." : rel;
    out += tail;
    i = j;
  }
  return out;
}

}  // namespace zbuild
