#include "graph/import.h"

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/command_policy.h"
#include "common/fs.h"
#include "common/paths.h"
#include "common/subprocess.h"
#include "common/text.h"
#include "graph/json_error.h"

namespace zbuild::graph {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Command lines

Result<std::vector<std::string>> split_command(std::string_view cmd) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  size_t i = 0;
  const size_t n = cmd.size();
  while (i < n) {
    char c = cmd[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) {
        words.push_back(std::move(cur));
        cur.clear();
        in_word = false;
      }
      ++i;
      continue;
    }
    if (c == '\\' && i + 1 < n && cmd[i + 1] == '\n') {   // backslash-newline joins lines
      i += 2;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      if (i + 1 >= n) {   // a trailing backslash stands for itself
        cur.push_back('\\');
        ++i;
        continue;
      }
      cur.push_back(cmd[i + 1]);
      i += 2;
      continue;
    }
    if (c == '\'') {
      size_t close = cmd.find('\'', i + 1);
      if (close == std::string_view::npos) {
        return make_error("unterminated single quote at offset " + std::to_string(i));
      }
      cur.append(cmd.substr(i + 1, close - i - 1));
      i = close + 1;
      continue;
    }
    if (c == '"') {
      size_t start = i;
      ++i;
      bool closed = false;
      while (i < n) {
        char d = cmd[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < n) {
          char e = cmd[i + 1];
          if (e == '"' || e == '\\' || e == '$' || e == '`') {
            cur.push_back(e);
            i += 2;
            continue;
          }
          if (e == '\n') {
            i += 2;
            continue;
          }
        }
        cur.push_back(d);
        ++i;
      }
      if (!closed) return make_error("unterminated double quote at offset " + std::to_string(start));
      continue;
    }
    cur.push_back(c);
    ++i;
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

bool needs_shell(std::string_view cmd) {
  bool word_start = true;
  bool first_word = true;
  bool first_word_quoted = false;
  bool in_single = false;
  bool in_double = false;
  std::string first;
  for (size_t i = 0; i < cmd.size(); ++i) {
    char c = cmd[i];
    if (in_single) {
      if (c == '\'') in_single = false;
      continue;
    }
    if (in_double) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_double = false;
      } else if (c == '$' || c == '`') {
        return true;   // expansion inside double quotes
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!word_start && first_word) {
        first_word = false;
        if (!first_word_quoted && (first == "!" || first == "{" || first == "}" || first == "if" ||
                                   first == "for" || first == "while" || first == "until" ||
                                   first == "case" || first == "[[" || first == "exec" || first == "cd" ||
                                   first == "export" || first == "set" || first == "." || first == ":")) {
          return true;
        }
      }
      word_start = true;
      continue;
    }
    if (c == '\\') {
      ++i;
      if (first_word) first_word_quoted = true;
      word_start = false;
      continue;
    }
    if (c == '\'') {
      in_single = true;
      if (first_word) first_word_quoted = true;
      word_start = false;
      continue;
    }
    if (c == '"') {
      in_double = true;
      if (first_word) first_word_quoted = true;
      word_start = false;
      continue;
    }
    switch (c) {
      case '&': case '|': case ';': case '<': case '>': case '(': case ')': case '$': case '`':
      case '*': case '?': case '[':
        return true;
      default:
        break;
    }
    if (word_start && (c == '~' || c == '#')) return true;
    // VAR=value before the command: an assignment the shell would apply.
    if (first_word && c == '=' && !first_word_quoted && !first.empty()) {
      bool name = std::all_of(first.begin(), first.end(), [](char x) {
        return x == '_' || (x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z') || (x >= '0' && x <= '9');
      });
      if (name && !(first[0] >= '0' && first[0] <= '9')) return true;
    }
    if (first_word) first.push_back(c);
    word_start = false;
  }
  if (first_word && !first_word_quoted &&
      (first == "!" || first == "{" || first == "}" || first == "cd" || first == ":" || first == "exec")) {
    return true;
  }
  return in_single || in_double;   // unterminated: let the shell report it
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// CMake's Ninja generator wraps link and archive commands as ": && CMD && :".
std::string_view unwrap_cmake(std::string_view cmd) {
  cmd = trim(cmd);
  for (;;) {
    bool changed = false;
    if (cmd.rfind(": && ", 0) == 0) {
      cmd = trim(cmd.substr(5));
      changed = true;
    }
    if (cmd.size() >= 5 && cmd.substr(cmd.size() - 5) == " && :") {
      cmd = trim(cmd.substr(0, cmd.size() - 5));
      changed = true;
    }
    if (!changed) return cmd;
  }
}

bool is_launcher(const std::string& word) {
  std::string base = word.substr(word.rfind('/') + 1);
  // zbuild-cc too: a build folder configured for runner mode (CMAKE_<LANG>_COMPILER_LAUNCHER)
  // would otherwise send every compile back to the daemon from a worker.
  return base == "ccache" || base == "sccache" || base == "distcc" || base == "icecc" || base == "zbuild-cc";
}

}  // namespace

Result<std::vector<std::string>> command_to_argv(std::string_view cmd) {
  std::string_view body = unwrap_cmake(cmd);
  if (body.empty()) return make_error("empty command");
  if (needs_shell(body)) return std::vector<std::string>{"sh", "-c", std::string(body)};
  auto words = split_command(body);
  if (!words.ok()) return words.error();
  if (words.value().empty()) return make_error("empty command");
  return words;
}

// ---------------------------------------------------------------------------------------------
// Paths

namespace {

fs::path absolute_normal(const fs::path& base, const std::string& p) {
  fs::path q(p);
  if (!q.is_absolute()) q = base / q;
  q = q.lexically_normal();
  // "dir/" normalises to "dir/" with an empty filename; drop the trailing separator.
  auto s = q.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return fs::path(s);
}

fs::path common_ancestor(const fs::path& a, const fs::path& b) {
  fs::path out;
  auto ia = a.begin();
  auto ib = b.begin();
  for (; ia != a.end() && ib != b.end() && *ia == *ib; ++ia, ++ib) out /= *ia;
  return out.empty() ? fs::path("/") : out;
}

Result<fs::path> pick_root(const ImportOptions& opts, const std::vector<fs::path>& must_contain) {
  if (!opts.root.empty()) {
    fs::path r = absolute_normal(fs::current_path(), opts.root.string());
    for (auto& p : must_contain) {
      if (!is_under(r, p)) return make_error("'" + p.string() + "' is outside the root " + r.string());
    }
    return r;
  }
  if (must_contain.empty()) return make_error("nothing to build");
  fs::path r = must_contain.front();
  for (auto& p : must_contain) r = common_ancestor(r, p);
  if (r == "/") {
    return make_error("the build's folders and files have no common folder other than '/'; pass --root DIR");
  }
  return r;
}

Result<std::string> rel_to(const fs::path& root, const fs::path& abs, const std::string& what) {
  return relative_to_root(root, ".", abs.string(), what);
}

// The output a compile names with -o FILE or -oFILE; empty when there is none.
std::string output_of(const std::vector<std::string>& argv) {
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == "-o" && i + 1 < argv.size()) return argv[i + 1];
    if (argv[i].size() > 2 && argv[i].rfind("-o", 0) == 0 && cmd::compiles_object(argv)) return argv[i].substr(2);
  }
  return {};
}

void strip_launcher(std::vector<std::string>& argv) {
  while (argv.size() >= 2 && is_launcher(argv[0])) argv.erase(argv.begin());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// compile_commands.json

Result<ImportResult> import_compdb_text(const std::string& text, const std::string& source_name,
                                        const fs::path& base_dir, const ImportOptions& opts) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    return make_error(graph::json_parse_error(source_name, text, e.byte, e.what()));
  }
  if (!doc.is_array()) return make_error(source_name + ": a compilation database must be a JSON array");

  struct Entry {
    std::vector<std::string> argv;
    fs::path dir, file, output;
  };
  std::vector<Entry> entries;
  std::vector<fs::path> places;
  fs::path base = absolute_normal(fs::current_path(), base_dir.string());
  for (size_t k = 0; k < doc.size(); ++k) {
    const json& e = doc[k];
    std::string where = source_name + ": entry #" + std::to_string(k + 1);
    if (!e.is_object()) return make_error(where + ": not a JSON object");
    auto str = [&](const char* key) -> Result<std::string> {
      auto it = e.find(key);
      if (it == e.end()) return make_error(where + ": missing '" + key + "'");
      if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
        return make_error(where + ": '" + key + "' must be a non-empty string");
      }
      return it->get<std::string>();
    };
    auto dir = str("directory");
    if (!dir.ok()) return dir.error();
    auto file = str("file");
    if (!file.ok()) return file.error();
    where += " (" + file.value() + ")";
    Entry out;
    out.dir = absolute_normal(base, dir.value());
    out.file = absolute_normal(out.dir, file.value());
    if (auto a = e.find("arguments"); a != e.end()) {
      if (!a->is_array() || a->empty()) return make_error(where + ": 'arguments' must be a non-empty array of strings");
      for (auto& w : *a) {
        if (!w.is_string()) return make_error(where + ": 'arguments' must be a non-empty array of strings");
        out.argv.push_back(w.get<std::string>());
      }
    } else if (auto c = e.find("command"); c != e.end()) {
      if (!c->is_string()) return make_error(where + ": 'command' must be a string");
      auto argv = command_to_argv(c->get_ref<const std::string&>());
      if (!argv.ok()) return make_error(where + ": 'command': " + argv.error().message);
      out.argv = std::move(argv.value());
    } else {
      return make_error(where + ": needs 'arguments' or 'command'");
    }
    if (opts.strip_launchers) strip_launcher(out.argv);
    std::string o = output_of(out.argv);
    if (o.empty()) {
      auto f = e.find("output");
      if (f != e.end() && f->is_string() && !f->get_ref<const std::string&>().empty()) o = f->get<std::string>();
    }
    if (o.empty()) return make_error(where + ": the command has no -o OUTPUT and the entry no 'output'");
    out.output = absolute_normal(out.dir, o);
    places.push_back(out.dir);
    places.push_back(out.file);
    places.push_back(out.output.parent_path());
    entries.push_back(std::move(out));
  }

  auto root = pick_root(opts, places);
  if (!root.ok()) return make_error(source_name + ": " + root.error().message);
  ImportResult r;
  r.graph.root = root.value();
  std::unordered_map<std::string, size_t> by_output;
  for (size_t k = 0; k < entries.size(); ++k) {
    auto& en = entries[k];
    std::string where = source_name + ": entry #" + std::to_string(k + 1);
    auto out = rel_to(r.graph.root, en.output, where + ": output");
    auto in = rel_to(r.graph.root, en.file, where + ": file");
    auto cwd = rel_to(r.graph.root, en.dir, where + ": directory");
    if (!out.ok()) return out.error();
    if (!in.ok()) return in.error();
    if (!cwd.ok()) return cwd.error();
    if (auto it = by_output.find(out.value()); it != by_output.end()) {
      r.warnings.push_back(where + ": '" + out.value() + "' is already built by entry #" +
                           std::to_string(it->second + 1) + "; entry left out");
      continue;
    }
    by_output.emplace(out.value(), k);
    graph::Task t;
    t.id = out.value();
    t.argv = std::move(en.argv);
    t.cwd = cwd.value();
    t.inputs = {in.value()};
    t.outputs = {out.value()};
    r.graph.tasks.push_back(std::move(t));
  }
  return r;
}

Result<ImportResult> import_compdb(const fs::path& file, const ImportOptions& opts) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return make_error(file.string() + ": no such file");
  auto text = read_file(file);
  if (!text.ok()) return make_error(file.string() + ": " + text.error().message);
  fs::path base = absolute_normal(fs::current_path(), file.string()).parent_path();
  return import_compdb_text(text.value(), file.string(), base, opts);
}

// ---------------------------------------------------------------------------------------------
// ninja

namespace {
// The lines of a tool's output, without their newlines.
std::vector<std::string> lines_of(const std::string& text) {
  auto pieces = split(text, '\n');
  if (pieces.back().empty()) pieces.pop_back();   // the text's last newline ends a line, starts none
  return {pieces.begin(), pieces.end()};
}
}  // namespace

std::vector<std::pair<std::string, std::string>> parse_ninja_targets(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& line : lines_of(text)) {
    auto sep = line.rfind(": ");
    if (sep == std::string::npos) continue;
    out.emplace_back(line.substr(0, sep), line.substr(sep + 2));
  }
  return out;
}

Result<std::vector<NinjaQueryNode>> parse_ninja_query(const std::string& text) {
  // node:
  //   input: RULE
  //     explicit
  //     | implicit
  //     || order-only
  //   validations:
  //     ...
  //   outputs:
  //     ...
  std::vector<NinjaQueryNode> nodes;
  enum { kNone, kInputs, kOther } section = kNone;
  size_t lineno = 0;
  for (const std::string& line : lines_of(text)) {
    ++lineno;
    if (line.empty()) continue;
    if (line[0] != ' ') {
      if (line.back() != ':') return make_error("ninja -t query: line " + std::to_string(lineno) + ": unexpected '" + line + "'");
      nodes.push_back(NinjaQueryNode{line.substr(0, line.size() - 1), {}, {}, {}, {}});
      section = kNone;
      continue;
    }
    if (nodes.empty()) return make_error("ninja -t query: line " + std::to_string(lineno) + ": no node before '" + line + "'");
    if (line.rfind("    ", 0) != 0) {
      std::string head = line.substr(2);
      if (head.rfind("input: ", 0) == 0) {
        nodes.back().rule = head.substr(7);
        section = kInputs;
      } else {
        section = kOther;   // outputs:, validations:, dyndep notes
      }
      continue;
    }
    if (section != kInputs) continue;
    std::string item = line.substr(4);
    if (item.rfind("|| ", 0) == 0) nodes.back().order_only_inputs.push_back(item.substr(3));
    else if (item.rfind("| ", 0) == 0) nodes.back().implicit_inputs.push_back(item.substr(2));
    else nodes.back().explicit_inputs.push_back(item);
  }
  return nodes;
}

namespace {

const std::set<std::string>& skipped_rules() {
  static const std::set<std::string> s{"phony", "RERUN_CMAKE", "CLEAN", "HELP", "REGENERATE_BUILD",
                                       "VERIFY_GLOBS", "INSTALL", "CUSTOM_COMMAND_UTIL"};
  return s;
}

Result<std::string> run_ninja(const ImportOptions& opts, const fs::path& dir, std::vector<std::string> args) {
  ProcessSpec ps;
  ps.argv = {opts.ninja};
  ps.argv.insert(ps.argv.end(), args.begin(), args.end());
  ps.cwd = dir.string();
  ps.timeout_ms = 300000;
  auto r = run_process(ps);
  std::string what = opts.ninja + " " + args[0] + " " + (args.size() > 1 ? args[1] : std::string());
  if (!r.ok()) return make_error("cannot run " + what + ": " + r.error().message);
  if (r.value().exit_code != 0) {
    std::string err = r.value().err.empty() ? r.value().out : r.value().err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return make_error(what + " in " + dir.string() + " failed (exit " + std::to_string(r.value().exit_code) +
                      "): " + err);
  }
  return std::move(r.value().out);
}

// `ninja -t query` for every path, 400 to a command line (a long list stays under ARG_MAX).
Result<std::vector<NinjaQueryNode>> query_ninja(const ImportOptions& opts, const fs::path& dir,
                                                const std::vector<std::string>& paths) {
  std::vector<NinjaQueryNode> all;
  for (size_t b = 0; b < paths.size(); b += 400) {
    std::vector<std::string> args{"-t", "query"};
    args.insert(args.end(), paths.begin() + static_cast<std::ptrdiff_t>(b),
                paths.begin() + static_cast<std::ptrdiff_t>(std::min(paths.size(), b + 400)));
    auto text = run_ninja(opts, dir, args);
    if (!text.ok()) return text.error();
    auto nodes = parse_ninja_query(text.value());
    if (!nodes.ok()) return nodes.error();
    for (auto& n : nodes.value()) all.push_back(std::move(n));
  }
  return all;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+=,:@%") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// `cmake -E cmake_symlink_library REAL SONAME NAME` (and _executable REAL NAME) makes
// symbolic links, but task outputs must be regular files: copy the real file instead.
void symlinks_to_copies(std::vector<std::string>& argv) {
  if (argv.size() < 4 || argv[1] != "-E") return;
  std::string base = argv[0].substr(argv[0].rfind('/') + 1);
  if (base != "cmake") return;
  if (argv[2] != "cmake_symlink_library" && argv[2] != "cmake_symlink_executable") return;
  const std::string& real = argv[3];
  std::string script;
  for (size_t i = 4; i < argv.size(); ++i) {
    if (argv[i] == real) continue;
    if (!script.empty()) script += " && ";
    script += "cp -f " + shell_quote(real) + " " + shell_quote(argv[i]);
  }
  argv = {"sh", "-c", script.empty() ? std::string(":") : script};
}

struct Edge {
  std::string rule;
  std::string command;
  std::vector<std::string> nodes;   // outputs, as ninja spells them
  const NinjaQueryNode* q = nullptr;
  size_t order = 0;                 // position of its first output in `targets all`
};

}  // namespace

namespace {

// `zbuild graph --ninja-dir`, in phases: the nodes ninja builds, the roots asked for, a walk
// from them (one `-t query` per node), each node's command (compdb, else `-t commands`),
// nodes grouped into edges (one edge per rule, inputs and command; its other outputs found
// too), inputs expanded through phony nodes, the root chosen, and one task per edge.
class NinjaImport {
 public:
  NinjaImport(fs::path dir, std::string dir_name, const ImportOptions& opts)
      : dir_(std::move(dir)), dir_name_(std::move(dir_name)), opts_(opts) {}

  Result<ImportResult> run() {
    for (auto phase : {&NinjaImport::list_targets, &NinjaImport::choose_roots, &NinjaImport::walk,
                       &NinjaImport::read_commands, &NinjaImport::group_edges, &NinjaImport::add_other_outputs,
                       &NinjaImport::expand_inputs, &NinjaImport::make_tasks}) {
      ZB_TRY((this->*phase)());
    }
    return std::move(result_);
  }

 private:
  static std::string signature(const std::string& rule, const NinjaQueryNode& q) {
    std::string s = rule;
    for (auto* list : {&q.explicit_inputs, &q.implicit_inputs, &q.order_only_inputs}) {
      s += '\x01';
      for (auto& in : *list) s += in + '\x02';
    }
    return s;
  }
  Status error(const std::string& what) const { return make_error(dir_name_ + ": " + what); }
  std::string abs(const std::string& node) const { return absolute_normal(dir_, node).string(); }
  void sort_by_position(std::vector<std::string>& paths) {
    std::sort(paths.begin(), paths.end(), [&](auto& a, auto& b) { return position_[a] < position_[b]; });
  }

  // Every node that an edge builds, with its rule, in build.ninja order.
  Status list_targets() {
    auto all_text = run_ninja(opts_, dir_, {"-t", "targets", "all"});
    if (!all_text.ok()) return all_text.error();
    for (auto& [path, rule] : parse_ninja_targets(all_text.value())) {
      position_.emplace(path, position_.size());
      rule_of_.emplace(path, rule);
    }
    return {};
  }

  // The targets asked for; by default `all`, else every top-level target.
  Status choose_roots() {
    roots_ = opts_.targets;
    if (roots_.empty()) {
      if (rule_of_.count("all")) {
        roots_.push_back("all");
      } else {
        auto top = run_ninja(opts_, dir_, {"-t", "targets"});
        if (!top.ok()) return top.error();
        for (auto& [path, rule] : parse_ninja_targets(top.value())) {
          if (!skipped_rules().count(rule) || rule == "phony") roots_.push_back(path);
        }
      }
    }
    for (auto& t : roots_) {
      if (!rule_of_.count(t)) return error("ninja knows no target '" + t + "'");
    }
    return {};
  }

  // Walk the graph from the roots, asking ninja about each built node once.
  Status walk() {
    std::vector<std::string> frontier;
    std::unordered_set<std::string> seen;
    for (auto& t : roots_) {
      if (seen.insert(t).second) frontier.push_back(t);
    }
    while (!frontier.empty()) {
      std::vector<std::string> next;
      auto nodes = query_ninja(opts_, dir_, frontier);
      if (!nodes.ok()) return nodes.error();
      for (auto& n : nodes.value()) {
        if (!n.rule.empty() && !(skipped_rules().count(n.rule) && n.rule != "phony")) {
          for (auto* list : {&n.explicit_inputs, &n.implicit_inputs, &n.order_only_inputs}) {
            for (auto& in : *list) {
              if (rule_of_.count(in) && seen.insert(in).second) next.push_back(in);
            }
          }
        }
        info_.emplace(n.path, std::move(n));
      }
      frontier = std::move(next);
    }
    return {};
  }

  // Commands: `-t compdb` has every edge with inputs under its first output; the others
  // (no inputs, or a second output) come from `-t commands -s` (command_for).
  Status read_commands() {
    auto cdb_text = run_ninja(opts_, dir_, {"-t", "compdb", "-x"});
    if (!cdb_text.ok()) return cdb_text.error();
    try {
      json cdb = json::parse(cdb_text.value());
      for (auto& e : cdb) {
        if (!e.is_object() || !e.contains("output") || !e.contains("command")) continue;
        command_of_.emplace(e["output"].get<std::string>(), e["command"].get<std::string>());
      }
    } catch (const json::exception& e) {
      return make_error("ninja -t compdb in " + dir_.string() + ": unreadable output: " + e.what());
    }
    for (auto& [path, q] : info_) {
      if (command_of_.count(path)) compdb_by_sig_[signature(q.rule, q)].push_back(path);
    }
    return {};
  }

  Result<std::string> command_for(const std::string& path, const std::string& sig) {
    if (auto it = command_of_.find(path); it != command_of_.end()) return it->second;
    if (auto s = compdb_by_sig_.find(sig); s != compdb_by_sig_.end() && s->second.size() == 1) {
      return command_of_.at(s->second.front());
    }
    auto text = run_ninja(opts_, dir_, {"-t", "commands", "-s", path});
    if (!text.ok()) return text.error();
    std::string cmd(trim(text.value()));
    auto nl = cmd.rfind('\n');
    return nl == std::string::npos ? cmd : cmd.substr(nl + 1);
  }

  // The built nodes reached, grouped: nodes with one rule, inputs and command are one edge.
  Status group_edges() {
    std::vector<std::string> built;
    for (auto& [path, q] : info_) {
      if (!q.rule.empty() && !skipped_rules().count(q.rule)) built.push_back(path);
    }
    sort_by_position(built);
    for (auto& path : built) {
      const NinjaQueryNode& q = info_.at(path);
      std::string sig = signature(q.rule, q);
      auto cmd = command_for(path, sig);
      if (!cmd.ok()) return cmd.error();
      auto [it, fresh] = edge_by_key_.emplace(sig + '\x03' + cmd.value(), edges_.size());
      if (fresh) edges_.push_back(Edge{q.rule, cmd.value(), {}, &q, position_[path]});
      edges_[it->second].nodes.push_back(path);
      reached_sigs_.insert(sig);
      reached_rules_.insert(q.rule);
    }
    return {};
  }

  // Other outputs of the edges found (CMake's `libx.so.1` beside `libx.so`, a custom
  // command's second file) need not be reachable themselves: look for them among the nodes
  // not visited, and add those whose edge is one of ours.
  Status add_other_outputs() {
    std::vector<std::string> others;
    for (auto& [path, rule] : rule_of_) {
      if (!info_.count(path) && reached_rules_.count(rule)) others.push_back(path);
    }
    sort_by_position(others);
    auto other_nodes = query_ninja(opts_, dir_, others);
    if (!other_nodes.ok()) return other_nodes.error();
    for (auto& n : other_nodes.value()) {
      std::string sig = signature(n.rule, n);
      if (!reached_sigs_.count(sig)) continue;
      auto cmd = command_for(n.path, sig);
      if (!cmd.ok()) return cmd.error();
      auto it = edge_by_key_.find(sig + '\x03' + cmd.value());
      if (it != edge_by_key_.end()) edges_[it->second].nodes.push_back(n.path);
    }
    for (size_t k = 0; k < edges_.size(); ++k) {
      for (auto& n : edges_[k].nodes) producer_.emplace(abs(n), k);
    }
    return {};
  }

  // A node as the files behind it (through phony nodes); files reached only through
  // order-only edges go to `order`.
  void expand(const std::string& node, bool as_input, std::set<std::string>& ins, std::set<std::string>& order,
              int depth) {
    auto it = info_.find(node);
    bool phony = it != info_.end() && it->second.rule == "phony";
    if (!phony || depth > 64) {
      if (it != info_.end() && skipped_rules().count(it->second.rule) && it->second.rule != "phony") return;
      (as_input ? ins : order).insert(abs(node));
      return;
    }
    const auto& q = it->second;
    if (q.explicit_inputs.empty() && q.implicit_inputs.empty() && q.order_only_inputs.empty()) {
      // A phony alias for a file (CMake lists its own inputs so): the file itself.
      std::error_code ec;
      if (fs::exists(abs(node), ec)) (as_input ? ins : order).insert(abs(node));
      return;
    }
    for (auto& in : q.explicit_inputs) expand(in, as_input, ins, order, depth + 1);
    for (auto& in : q.implicit_inputs) expand(in, as_input, ins, order, depth + 1);
    for (auto& in : q.order_only_inputs) expand(in, false, ins, order, depth + 1);
  }

  // Each edge's inputs and argv; the root: the build folder and the sources that compiles
  // read (any edge's sources when there is no compile), unless given.
  Status expand_inputs() {
    std::vector<fs::path> places{dir_};
    edge_inputs_.resize(edges_.size());
    edge_order_.resize(edges_.size());
    argvs_.resize(edges_.size());
    auto add_sources = [&](const Edge& e) {
      for (auto& in : e.q->explicit_inputs) {
        if (!producer_.count(abs(in))) places.push_back(abs(in));
      }
    };
    for (size_t k = 0; k < edges_.size(); ++k) {
      auto& e = edges_[k];
      for (auto& in : e.q->explicit_inputs) expand(in, true, edge_inputs_[k], edge_order_[k], 0);
      for (auto& in : e.q->implicit_inputs) expand(in, true, edge_inputs_[k], edge_order_[k], 0);
      for (auto& in : e.q->order_only_inputs) expand(in, false, edge_inputs_[k], edge_order_[k], 0);
      auto argv = command_to_argv(e.command);
      if (!argv.ok()) return error("edge '" + e.nodes.front() + "': " + argv.error().message);
      argvs_[k] = std::move(argv.value());
      if (opts_.strip_launchers && argvs_[k].size() > 2 && is_launcher(argvs_[k][0])) strip_launcher(argvs_[k]);
      symlinks_to_copies(argvs_[k]);
      if (cmd::compiles_object(argvs_[k])) add_sources(e);
    }
    if (places.size() == 1) {
      for (auto& e : edges_) add_sources(e);
    }
    auto root = pick_root(opts_, places);
    if (!root.ok()) return error(root.error().message);
    result_.graph.root = root.value();
    return {};
  }

  // One task per edge, in build.ninja order; outputs (and so ids) first: an order-only
  // dependency of a non-compile names its producer.
  Status make_tasks() {
    auto cwd = rel_to(result_.graph.root, dir_, "build folder");
    if (!cwd.ok()) return cwd.error();
    std::vector<size_t> order(edges_.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return edges_[a].order < edges_[b].order; });
    outputs_.resize(edges_.size());
    for (size_t k = 0; k < edges_.size(); ++k) {
      std::set<std::string> outs;
      for (auto& n : edges_[k].nodes) {
        auto rel = rel_to(result_.graph.root, abs(n), "edge '" + edges_[k].nodes.front() + "': output");
        if (!rel.ok()) return error(rel.error().message);
        if (outs.insert(rel.value()).second) outputs_[k].push_back(rel.value());
      }
    }
    for (size_t k : order) result_.graph.tasks.push_back(make_task(k, cwd.value()));
    if (outside_) {
      result_.warnings.push_back(std::to_string(outside_) + " input(s) outside the root " +
                                 result_.graph.root.string() + " left out (system files the commands read in place)");
    }
    return {};
  }

  graph::Task make_task(size_t k, const std::string& cwd) {
    graph::Task t;
    t.outputs = outputs_[k];
    t.id = t.outputs.front();
    t.argv = std::move(argvs_[k]);
    t.cwd = cwd;
    // A compile gets order-only generated files (headers, mostly) as inputs, so they are in
    // its sandbox; other commands only wait for them.
    bool compile = cmd::compiles_object(t.argv);
    std::set<std::string> ins(t.outputs.begin(), t.outputs.end());
    std::set<std::string> deps;
    auto add = [&](const std::string& abs_path, bool ordering_only) {
      if (!is_under(result_.graph.root, abs_path)) {
        if (!ordering_only) ++outside_;
        return;
      }
      auto rel = rel_to(result_.graph.root, abs_path, "input");
      if (!rel.ok()) return;
      auto prod = producer_.find(abs_path);
      if (ordering_only && prod == producer_.end()) return;
      if (ordering_only && !compile) {
        if (prod->second != k && !ins.count(rel.value())) deps.insert(outputs_[prod->second].front());
        return;
      }
      std::error_code ec;
      if (prod == producer_.end() && !fs::exists(abs_path, ec)) {
        result_.warnings.push_back("task '" + t.id + "': input '" + rel.value() +
                                   "' does not exist and no edge builds it; left out");
        return;
      }
      if (ins.insert(rel.value()).second) t.inputs.push_back(rel.value());
    };
    for (auto& in : edge_inputs_[k]) add(in, false);
    for (auto& in : edge_order_[k]) add(in, true);
    for (auto& d : deps) {
      if (!ins.count(d)) t.deps.push_back(d);
    }
    return t;
  }

  const fs::path dir_;
  const std::string dir_name_;   // as the user gave it, for messages
  const ImportOptions& opts_;
  std::unordered_map<std::string, std::string> rule_of_;
  std::unordered_map<std::string, size_t> position_;
  std::vector<std::string> roots_;
  std::unordered_map<std::string, NinjaQueryNode> info_;
  std::unordered_map<std::string, std::string> command_of_;
  std::unordered_map<std::string, std::vector<std::string>> compdb_by_sig_;
  std::vector<Edge> edges_;
  std::map<std::string, size_t> edge_by_key_;
  std::set<std::string> reached_sigs_, reached_rules_;
  std::unordered_map<std::string, size_t> producer_;   // absolute path -> edge
  std::vector<std::set<std::string>> edge_inputs_, edge_order_;
  std::vector<std::vector<std::string>> argvs_, outputs_;
  size_t outside_ = 0;
  ImportResult result_;
};

}  // namespace

Result<ImportResult> import_ninja(const fs::path& dir_in, const ImportOptions& opts) {
  fs::path dir = absolute_normal(fs::current_path(), dir_in.string());
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return make_error(dir_in.string() + ": no such folder");
  if (!fs::exists(dir / "build.ninja", ec)) return make_error(dir_in.string() + ": no build.ninja in this folder");
  return NinjaImport(dir, dir_in.string(), opts).run();
}

// ---------------------------------------------------------------------------------------------

std::string graph_to_json(const graph::Graph& g) {
  using ojson = nlohmann::ordered_json;
  ojson tasks = ojson::array();
  for (auto& t : g.tasks) {
    ojson o = ojson::object();
    o["id"] = t.id;
    o["argv"] = t.argv;
    o["cwd"] = t.cwd;
    o["inputs"] = t.inputs;
    o["outputs"] = t.outputs;
    if (!t.deps.empty()) o["deps"] = t.deps;
    if (!t.env.empty()) o["env"] = t.env;
    if (t.timeout_s != 600) o["timeout_s"] = t.timeout_s;
    tasks.push_back(std::move(o));
  }
  ojson doc = ojson::object();
  doc["version"] = 1;
  doc["root"] = g.root.string();
  doc["tasks"] = std::move(tasks);
  return doc.dump(1) + "\n";
}

}  // namespace zbuild::graph
