#include "shapes/parse.h"

#include <charconv>
#include <set>

#include "shapes/format.h"
#include "shapes/registry.h"
#include "shapes/transform.h"

namespace shapes {
namespace {

// Keys handled by the parser itself rather than by the shape factory.
const std::set<std::string, std::less<>> kItemKeys{"name", "fill", "layer"};

struct Line {
  std::string verb;
  Params params;
};

std::variant<Line, std::string> tokenize(std::string_view text) {
  Line line;
  for (const std::string& token : split(text, ' ')) {
    if (token.empty()) continue;
    if (line.verb.empty()) {
      line.verb = token;
      continue;
    }
    const std::size_t eq = token.find('=');
    if (eq == std::string::npos || eq == 0) return "expected key=value, got '" + token + "'";
    auto [it, inserted] = line.params.emplace(token.substr(0, eq), token.substr(eq + 1));
    if (!inserted) return "duplicate key '" + it->first + "'";
  }
  return line;
}

// A comment starts at a '#' at the start of the line or after whitespace, so
// colour values such as fill=#aabbcc are kept.
std::string_view strip_comment(std::string_view raw) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '#' && (i == 0 || raw[i - 1] == ' ' || raw[i - 1] == '\t')) return raw.substr(0, i);
  }
  return raw;
}

std::optional<int> to_int(std::string_view s) {
  int value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<double> to_double(std::string_view s) {
  double value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

class Parser {
 public:
  void line(std::size_t number, std::string_view raw) {
    number_ = number;
    std::string text(trim(strip_comment(raw)));
    for (char& c : text) {
      if (c == '\t') c = ' ';
    }
    if (text.empty()) return;
    auto tokens = tokenize(text);
    if (auto* err = std::get_if<std::string>(&tokens)) return error(*err);
    Line& l = std::get<Line>(tokens);
    if (l.verb == "move") return move(l.params);
    shape(l);
  }

  ParseResult finish() { return std::move(result_); }

 private:
  void error(std::string message) { result_.errors.push_back({number_, std::move(message)}); }

  void shape(Line& l) {
    const auto name_it = l.params.find("name");
    if (name_it == l.params.end()) return error("missing name");
    const std::string name = name_it->second;
    Color fill{128, 128, 128, 255};
    if (const auto it = l.params.find("fill"); it != l.params.end()) {
      const auto c = parse_color(it->second);
      if (!c) return error("bad colour '" + it->second + "'");
      fill = *c;
    }
    int layer = 0;
    if (const auto it = l.params.find("layer"); it != l.params.end()) {
      const auto v = to_int(it->second);
      if (!v) return error("bad layer '" + it->second + "'");
      layer = *v;
    }
    std::erase_if(l.params, [](const auto& kv) { return kItemKeys.contains(kv.first); });
    MakeResult made = Registry::builtin().make(l.verb, l.params);
    if (auto* err = std::get_if<std::string>(&made)) return error(*err);
    if (!result_.scene.add(name, std::move(std::get<ShapePtr>(made)), fill, layer)) {
      error("duplicate name '" + name + "'");
    }
  }

  void move(const Params& params) {
    const auto name = params.find("name");
    if (name == params.end()) return error("move needs name");
    const Item* item = result_.scene.find(name->second);
    if (item == nullptr) return error("no item named '" + name->second + "'");
    Vec2 offset{};
    for (const auto& [key, value] : params) {
      if (key == "name") continue;
      const auto v = to_double(value);
      if (!v || (key != "dx" && key != "dy")) return error("bad move argument '" + key + "'");
      (key == "dx" ? offset.x : offset.y) = *v;
    }
    Item copy{item->name, item->shape->transformed(Transform::translate(offset)), item->fill,
              item->layer};
    // Replace in place, keeping insertion order.
    Scene rebuilt;
    for (const Item& existing : result_.scene.items()) {
      if (existing.name == copy.name) {
        rebuilt.add(copy.name, std::move(copy.shape), copy.fill, copy.layer);
      } else {
        rebuilt.add(existing.name, existing.shape->clone(), existing.fill, existing.layer);
      }
    }
    result_.scene = std::move(rebuilt);
  }

  std::size_t number_ = 0;
  ParseResult result_;
};

}  // namespace

ParseResult parse_scene(std::string_view text) {
  Parser parser;
  std::size_t number = 1;
  for (const std::string& raw : split(text, '\n')) parser.line(number++, raw);
  return parser.finish();
}

std::string to_string(const ParseError& e) {
  return "line " + std::to_string(e.line) + ": " + e.message;
}

}  // namespace shapes
