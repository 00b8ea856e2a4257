#include "shapes/shape.h"

#include <array>
#include <utility>

#include "shapes/polygon.h"
#include "shapes/transform.h"

namespace shapes {

std::string_view kind_name(Kind kind) {
  static constexpr std::array<std::pair<Kind, std::string_view>, 5> kNames{{
      {Kind::Circle, "circle"},
      {Kind::Rect, "rect"},
      {Kind::Triangle, "triangle"},
      {Kind::Polygon, "polygon"},
      {Kind::Ellipse, "ellipse"},
  }};
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::unique_ptr<Shape> Shape::transformed(const Transform& t) const {
  std::vector<Vec2> points = t.apply(outline(kDefaultSegments));
  return std::make_unique<Polygon>(std::move(points));
}

bool Shape::is_convex() const { return ring_is_convex(outline(kDefaultSegments)); }

}  // namespace shapes
