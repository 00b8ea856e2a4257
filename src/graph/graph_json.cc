// Reading graph.json: format version 1 and the older "source_files" format
// (docs/graph-format.md). Produces a Graph with normalised paths, then hands it to
// validate_graph for the cross-task checks.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "common/paths.h"
#include "graph/graph.h"
#include "graph/json_error.h"
#include "graph/validate.h"

namespace zbuild::graph {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Names a task in messages: "task 'obj/a.o' (#3)" or, before the id is known, "task #3".
std::string task_label(const std::string& id, size_t number) {
  if (id.empty()) return "task #" + std::to_string(number);
  return "task '" + id + "' (#" + std::to_string(number) + ")";
}

class TaskReader {
 public:
  TaskReader(const json& obj, const std::string& source, size_t number)
      : obj_(obj), source_(source), number_(number) {}

  std::string place() const { return source_ + ": " + task_label(id_, number_); }

  Status read_id() {
    auto it = obj_.find("id");
    if (it == obj_.end()) return make_error(place() + ": missing 'id'");
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return make_error(place() + ": 'id' must be a non-empty string");
    }
    id_ = it->get<std::string>();
    return {};
  }

  const std::string& id() const { return id_; }
  bool has(const char* key) const { return obj_.contains(key); }

  // Optional string; `out` keeps its value when the key is absent.
  Status string_field(const char* key, bool required, std::string& out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) {
      if (required) return make_error(place() + ": missing '" + key + "'");
      return {};
    }
    if (!it->is_string()) return make_error(place() + ": '" + key + "' must be a string");
    out = it->get<std::string>();
    return {};
  }

  // Optional array of strings.
  Status string_array(const char* key, std::vector<std::string>& out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return {};
    if (!it->is_array()) return make_error(place() + ": '" + key + "' must be an array of strings");
    out.clear();
    out.reserve(it->size());
    for (const auto& e : *it) {
      if (!e.is_string()) return make_error(place() + ": '" + key + "' must be an array of strings");
      out.push_back(e.get<std::string>());
    }
    return {};
  }

  Status positive_int(const char* key, int64_t& out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return {};
    bool good = false;
    if (it->is_number_unsigned()) {
      auto v = it->get<uint64_t>();
      if (v > 0 && v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        out = static_cast<int64_t>(v);
        good = true;
      }
    } else if (it->is_number_integer()) {
      auto v = it->get<int64_t>();
      if (v > 0) {
        out = v;
        good = true;
      }
    }
    if (!good) return make_error(place() + ": '" + key + "' must be a positive integer");
    return {};
  }

  Status env_map(const char* key, std::map<std::string, std::string>& out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return {};
    if (!it->is_object()) {
      return make_error(place() + ": '" + key + "' must be an object of strings");
    }
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) {
        return make_error(place() + ": '" + key + "' value of '" + k + "' must be a string");
      }
      out[k] = v.get<std::string>();
    }
    return {};
  }

  // compile_flags (older format): an array of strings or one string split on whitespace.
  Status flags(const char* key, std::vector<std::string>& out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return {};
    if (it->is_string()) {
      const auto& s = it->get_ref<const std::string&>();
      size_t i = 0;
      while (i < s.size()) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        size_t j = i;
        while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j;
      }
      return {};
    }
    if (!it->is_array()) {
      return make_error(place() + ": '" + key + "' must be a string or an array of strings");
    }
    return string_array(key, out);
  }

 private:
  const json& obj_;
  const std::string& source_;
  size_t number_;
  std::string id_;
};

// Normalises paths relative to the root and drops repeats within one task (first one kept).
Status normalise_paths(const fs::path& root, const std::string& source, const std::string& id,
                       const char* what, std::vector<std::string>& paths) {
  std::vector<std::string> out;
  out.reserve(paths.size());
  std::set<std::string> seen;
  std::string label = source + ": task '" + id + "': " + what;
  for (const auto& p : paths) {
    auto r = relative_to_root(root, ".", p, label);
    if (!r.ok()) return r.error();
    if (seen.insert(r.value()).second) out.push_back(std::move(r.value()));
  }
  paths = std::move(out);
  return {};
}

Status finish_task_paths(const fs::path& root, const std::string& source, Task& t) {
  ZB_TRY(normalise_paths(root, source, t.id, "input", t.inputs));
  ZB_TRY(normalise_paths(root, source, t.id, "output", t.outputs));
  for (const auto& o : t.outputs) {
    if (o == ".") {
      return make_error(source + ": task '" + t.id + "': output: path is the root folder itself");
    }
  }
  auto cwd = relative_to_root(root, ".", t.cwd, source + ": task '" + t.id + "': cwd");
  if (!cwd.ok()) return cwd.error();
  t.cwd = std::move(cwd.value());
  return {};
}

// The fields of a version-1 task (after its id).
Status read_v1_fields(TaskReader& r, Task& t) {
  if (!r.has("argv")) return make_error(r.place() + ": missing 'argv'");
  ZB_TRY(r.string_array("argv", t.argv));
  if (t.argv.empty()) return make_error(r.place() + ": 'argv' must not be empty");
  ZB_TRY(r.string_field("cwd", false, t.cwd));
  ZB_TRY(r.string_array("inputs", t.inputs));
  ZB_TRY(r.string_array("outputs", t.outputs));
  ZB_TRY(r.string_array("deps", t.deps));
  ZB_TRY(r.env_map("env", t.env));
  return r.positive_int("timeout_s", t.timeout_s);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The older system compiled a task with sources to an object file without being told:
// its users wrote {"compile_flags": ["-O2"], "output_path": "obj/a.o"} and got `-c` added.
// A compile whose output is an object (.o, .obj) and whose flags choose no stage (-c, -S, -E)
// therefore gets -c; without it g++ would link the sources into a program named a.o.
bool needs_compile_only(const std::vector<std::string>& flags, const std::string& output) {
  if (!ends_with(output, ".o") && !ends_with(output, ".obj")) return false;
  return std::none_of(flags.begin(), flags.end(),
                      [](const std::string& f) { return f == "-c" || f == "-S" || f == "-E"; });
}

// The fields of a task in the older format (after its id), turned into a compile or a link.
Status read_legacy_fields(TaskReader& r, Task& t) {
  std::vector<std::string> sources;
  std::vector<std::string> dependencies;
  std::vector<std::string> flags;
  std::string output;
  ZB_TRY(r.string_array("source_files", sources));
  ZB_TRY(r.string_array("dependencies", dependencies));
  ZB_TRY(r.flags("compile_flags", flags));
  ZB_TRY(r.string_field("output_path", true, output));
  ZB_TRY(r.positive_int("timeout_seconds", t.timeout_s));
  ZB_TRY(r.string_array("depends_on", t.deps));

  if (!sources.empty()) {
    bool all_c = std::all_of(sources.begin(), sources.end(),
                             [](const std::string& s) { return ends_with(s, ".c"); });
    t.argv.push_back(all_c ? "gcc" : "g++");
    t.argv.insert(t.argv.end(), flags.begin(), flags.end());
    if (needs_compile_only(flags, output)) t.argv.push_back("-c");
    t.argv.insert(t.argv.end(), sources.begin(), sources.end());
    t.argv.push_back("-o");
    t.argv.push_back(output);
    t.inputs = sources;
    t.inputs.insert(t.inputs.end(), dependencies.begin(), dependencies.end());
  } else {
    t.argv.push_back("g++");
    t.argv.insert(t.argv.end(), dependencies.begin(), dependencies.end());
    t.argv.push_back("-o");
    t.argv.push_back(output);
    t.argv.insert(t.argv.end(), flags.begin(), flags.end());
    t.inputs = dependencies;
  }
  t.outputs.push_back(output);
  return {};
}

// Task `number` of either format: a JSON object with an id, its fields, paths made relative.
Result<Task> read_task(const json& obj, const fs::path& root, const std::string& source, size_t number,
                       bool legacy) {
  TaskReader r(obj, source, number);
  if (!obj.is_object()) return make_error(r.place() + ": a task must be a JSON object");
  ZB_TRY(r.read_id());
  Task t;
  t.id = r.id();
  ZB_TRY(legacy ? read_legacy_fields(r, t) : read_v1_fields(r, t));
  ZB_TRY(finish_task_paths(root, source, t));
  return t;
}

// The older format has no "version" and its tasks carry "source_files" or "output_path".
bool is_legacy(const json& doc) {
  if (doc.contains("version")) return false;
  auto it = doc.find("tasks");
  if (it == doc.end() || !it->is_array()) return false;
  return std::any_of(it->begin(), it->end(), [](const json& t) {
    return t.is_object() && (t.contains("source_files") || t.contains("output_path"));
  });
}

fs::path normal_absolute(const fs::path& p) {
  fs::path abs = p.is_absolute() ? p : fs::absolute(p);
  abs = abs.lexically_normal();
  // "/a/b/" -> "/a/b" so paths relative to the root compare cleanly.
  if (!abs.has_filename() && abs.has_relative_path()) abs = abs.parent_path();
  return abs;
}

// The common case, read straight into Tasks without a JSON document in between (a document
// of a few thousand tasks costs more to build and free than the tasks themselves): a version-1
// graph whose every value has the expected type. Anything else — an error of any kind, a
// repeated key in a task, an older-format field, no "version" — gives up (false), and the
// document path below reads the text and says what is wrong, exactly as it always has.
class FastV1 : public nlohmann::json_sax<json> {
 public:
  std::vector<Task> tasks;
  std::string root;
  bool has_root = false, has_version = false, has_tasks = false;

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t v) override { return number(v > 0, static_cast<uint64_t>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(v > 0, v); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return false; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

  bool string(string_t& v) override {
    if (skip_) return scalar();
    switch (at_) {
      case At::root:
        if (v.empty()) return false;
        root = std::move(v);
        at_ = At::top;
        return true;
      case At::id:
        if (v.empty()) return false;
        task_.id = std::move(v);
        at_ = At::task;
        return true;
      case At::cwd:
        task_.cwd = std::move(v);
        at_ = At::task;
        return true;
      case At::list_item:
        list_->push_back(std::move(v));
        return true;
      case At::env_value:
        task_.env[env_key_] = std::move(v);
        at_ = At::env;
        return true;
      default:
        return false;
    }
  }

  bool start_object(std::size_t) override {
    if (skip_) return nest();
    switch (at_) {
      case At::start: at_ = At::top; return true;
      case At::tasks:
        task_ = Task();
        seen_ = 0;
        at_ = At::task;
        return true;
      case At::env_start: at_ = At::env; return true;
      default: return false;
    }
  }

  bool end_object() override {
    if (skip_) return unnest();
    switch (at_) {
      case At::top: at_ = At::done; return true;
      case At::env: at_ = At::task; return true;
      case At::task:
        // Required: an id and a non-empty argv (the document path words the error).
        if (task_.id.empty() || task_.argv.empty()) return false;
        tasks.push_back(std::move(task_));
        at_ = At::tasks;
        return true;
      default: return false;
    }
  }

  bool start_array(std::size_t) override {
    if (skip_) return nest();
    return step({{At::tasks_start, At::tasks}, {At::list_start, At::list_item}});
  }

  bool end_array() override {
    if (skip_) return unnest();
    return step({{At::tasks, At::top}, {At::list_item, At::task}});
  }

  bool key(string_t& k) override {
    if (skip_) return true;
    if (at_ == At::top) {
      if (k == "version") return once(has_version, At::version);
      if (k == "root") return once(has_root, At::root);
      if (k == "tasks") return once(has_tasks, At::tasks_start);
      skip_ = 1;   // a field zbuild does not read
      return true;
    }
    if (at_ == At::env) {
      env_key_ = std::move(k);
      at_ = At::env_value;
      return true;
    }
    if (at_ != At::task) return false;
    static const char* const kFields[] = {"id", "argv", "cwd", "inputs", "outputs", "deps", "env", "timeout_s"};
    for (unsigned i = 0; i < std::size(kFields); ++i) {
      if (k != kFields[i]) continue;
      if (seen_ & (1u << i)) return false;   // repeated: the document keeps the last one
      seen_ |= 1u << i;
      switch (i) {
        case 0: at_ = At::id; return true;
        case 1: return list(task_.argv);
        case 2: at_ = At::cwd; return true;
        case 3: return list(task_.inputs);
        case 4: return list(task_.outputs);
        case 5: return list(task_.deps);
        case 6: at_ = At::env_start; return true;
        default: at_ = At::timeout; return true;
      }
    }
    if (k == "source_files" || k == "output_path") return false;   // the older format's
    skip_ = 1;
    return true;
  }

 private:
  enum class At { start, top, version, root, tasks_start, tasks, task, id, cwd, list_start, list_item, env_start, env,
                  env_value, timeout, done };
  At at_ = At::start;
  int skip_ = 0;   // > 0: inside a value no one reads (1 + its nesting)
  Task task_;
  unsigned seen_ = 0;
  std::vector<std::string>* list_ = nullptr;
  std::string env_key_;

  // The move out of the state the reader is in, among (from, to); false when none is from it.
  bool step(std::initializer_list<std::pair<At, At>> moves) {
    for (auto [from, to] : moves) {
      if (at_ == from) {
        at_ = to;
        return true;
      }
    }
    return false;
  }
  bool once(bool& seen, At next) {
    if (seen) return false;
    seen = true;
    at_ = next;
    return true;
  }
  bool list(std::vector<std::string>& out) {
    list_ = &out;
    at_ = At::list_start;
    return true;
  }
  bool number(bool positive, uint64_t v) {
    if (skip_) return scalar();
    if (at_ == At::version) {
      at_ = At::top;
      return positive && v == 1;
    }
    if (at_ == At::timeout && positive && v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      task_.timeout_s = static_cast<int64_t>(v);
      at_ = At::task;
      return true;
    }
    return false;
  }
  // A scalar: the whole of a skipped value, or part of one; anywhere else, not what was expected.
  bool scalar() {
    if (skip_ == 1) {
      skip_ = 0;
      return true;
    }
    return skip_ > 1;
  }
  bool nest() {
    ++skip_;
    return true;
  }
  bool unnest() {
    if (--skip_ == 1) skip_ = 0;
    return true;
  }
};

}  // namespace

Result<Graph> parse_graph(const std::string& text, const std::string& source_name,
                          const std::filesystem::path& base_dir, bool check_inputs) {
  {
    FastV1 fast;
    if (json::sax_parse(text, &fast) && fast.has_version && fast.has_tasks) {
      Graph g;
      fs::path base = normal_absolute(base_dir.empty() ? fs::path(".") : base_dir);
      g.root = base;
      if (fast.has_root) {
        fs::path r(fast.root);
        g.root = normal_absolute(r.is_absolute() ? r : base / r);
      }
      g.tasks = std::move(fast.tasks);
      for (auto& t : g.tasks) ZB_TRY(finish_task_paths(g.root, source_name, t));
      ZB_TRY(detail::validate_graph(g, source_name, check_inputs));
      return g;
    }
  }
  return detail::parse_graph_document(text, source_name, base_dir, check_inputs);
}

bool detail::reads_directly(const std::string& text) {
  FastV1 fast;
  return json::sax_parse(text, &fast) && fast.has_version && fast.has_tasks;
}

Result<Graph> detail::parse_graph_document(const std::string& text, const std::string& source_name,
                                           const std::filesystem::path& base_dir, bool check_inputs) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    return make_error(json_parse_error(source_name, text, e.byte, e.what()));
  }
  if (!doc.is_object()) return make_error(source_name + ": the graph must be a JSON object");

  Graph g;
  const bool legacy = is_legacy(doc);
  fs::path base = normal_absolute(base_dir.empty() ? fs::path(".") : base_dir);
  g.root = base;
  if (!legacy) {
    if (auto it = doc.find("version"); it != doc.end()) {
      if (!it->is_number_integer() || it->get<int64_t>() != 1) {
        return make_error(source_name + ": unsupported graph format version " + it->dump() +
                          " (this zbuild reads version 1)");
      }
    }
    if (auto it = doc.find("root"); it != doc.end()) {
      if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
        return make_error(source_name + ": 'root' must be a non-empty string");
      }
      fs::path r(it->get<std::string>());
      g.root = normal_absolute(r.is_absolute() ? r : base / r);
    }
  }

  auto tasks = doc.find("tasks");
  if (tasks == doc.end()) return make_error(source_name + ": missing 'tasks'");
  if (!tasks->is_array()) return make_error(source_name + ": 'tasks' must be an array");
  g.tasks.reserve(tasks->size());
  size_t number = 0;
  for (const auto& obj : *tasks) {
    ++number;
    auto t = read_task(obj, g.root, source_name, number, legacy);
    if (!t.ok()) return t.error();
    g.tasks.push_back(std::move(t.value()));
  }

  ZB_TRY(detail::validate_graph(g, source_name, check_inputs));
  return g;
}

Result<Graph> load_graph(const std::filesystem::path& file, bool check_inputs) {
  auto text = read_file(file);
  if (!text.ok()) return text.error();
  fs::path dir = fs::absolute(file).parent_path();
  return parse_graph(text.value(), file.string(), dir, check_inputs);
}

}  // namespace zbuild::graph
