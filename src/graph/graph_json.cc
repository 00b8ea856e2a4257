// Reading graph.json: format version 1 and the older "source_files" format
// (docs/graph-format.md). Produces a Graph with normalised paths, then hands it to
// validate_graph for the cross-task checks.
#include <algorithm>
#include <cctype>
#include <cstdint>
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

}  // namespace

Result<Graph> parse_graph(const std::string& text, const std::string& source_name,
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
