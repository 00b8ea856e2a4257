#include "shapes/registry.h"

#include <charconv>
#include <exception>
#include <optional>

#include "shapes/circle.h"
#include "shapes/ellipse.h"
#include "shapes/format.h"
#include "shapes/polygon.h"
#include "shapes/rect.h"
#include "shapes/triangle.h"

namespace shapes {
namespace {

std::optional<double> to_number(std::string_view text) {
  text = trim(text);
  double value = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

// Reads numeric parameters; throws std::invalid_argument with a readable message.
double num(const Params& p, std::string_view key) {
  const auto it = p.find(key);
  const std::optional<double> value = to_number(it->second);
  if (!value) throw std::invalid_argument("parameter '" + it->first + "' is not a number: " + it->second);
  return *value;
}

double num_or(const Params& p, std::string_view key, double fallback) {
  return p.contains(key) ? num(p, key) : fallback;
}

std::vector<Vec2> parse_points(const std::string& text) {
  std::vector<Vec2> points;
  for (const std::string& pair : split(text, ';')) {
    if (trim(pair).empty()) continue;
    const std::vector<std::string> xy = split(pair, ',');
    if (xy.size() != 2) throw std::invalid_argument("bad point '" + pair + "'");
    const auto x = to_number(xy[0]);
    const auto y = to_number(xy[1]);
    if (!x || !y) throw std::invalid_argument("bad point '" + pair + "'");
    points.push_back({*x, *y});
  }
  return points;
}

template <typename Fn>
Factory guarded(Fn fn) {
  return [fn](const Params& p) -> MakeResult {
    try {
      return fn(p);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  };
}

Registry make_builtin() {
  Registry r;
  r.add("circle", {"cx", "cy", "r"}, guarded([](const Params& p) -> ShapePtr {
          return std::make_unique<Circle>(Vec2{num(p, "cx"), num(p, "cy")}, num(p, "r"));
        }));
  r.add("rect", {"x", "y", "w", "h"}, guarded([](const Params& p) -> ShapePtr {
          return std::make_unique<Rect>(Vec2{num(p, "x"), num(p, "y")}, num(p, "w"), num(p, "h"));
        }));
  r.add("triangle", {"ax", "ay", "bx", "by", "cx", "cy"},
        guarded([](const Params& p) -> ShapePtr {
          return std::make_unique<Triangle>(Vec2{num(p, "ax"), num(p, "ay")},
                                            Vec2{num(p, "bx"), num(p, "by")},
                                            Vec2{num(p, "cx"), num(p, "cy")});
        }));
  r.add("polygon", {"points"}, guarded([](const Params& p) -> ShapePtr {
          return std::make_unique<Polygon>(parse_points(p.find("points")->second));
        }));
  r.add("ellipse", {"cx", "cy", "rx", "ry"}, guarded([](const Params& p) -> ShapePtr {
          const double degrees = num_or(p, "angle", 0.0);
          return std::make_unique<Ellipse>(Vec2{num(p, "cx"), num(p, "cy")}, num(p, "rx"),
                                           num(p, "ry"), degrees * kPi / 180.0);
        }));
  return r;
}

}  // namespace

void Registry::add(std::string kind, std::vector<std::string> required, Factory factory) {
  entries_.insert_or_assign(std::move(kind), Entry{std::move(required), std::move(factory)});
}

bool Registry::knows(std::string_view kind) const { return entries_.contains(kind); }

std::vector<std::string> Registry::kinds() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

MakeResult Registry::make(std::string_view kind, const Params& params) const {
  const auto it = entries_.find(kind);
  if (it == entries_.end()) return "unknown shape kind '" + std::string(kind) + "'";
  std::vector<std::string> missing;
  for (const std::string& key : it->second.required) {
    if (!params.contains(key)) missing.push_back(key);
  }
  if (!missing.empty()) return "missing parameter(s) " + join(missing, ", ") + " for " + it->first;
  return it->second.factory(params);
}

const Registry& Registry::builtin() {
  static const Registry registry = make_builtin();
  return registry;
}

}  // namespace shapes
