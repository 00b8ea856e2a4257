#include "shapes/rect.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "shapes/format.h"
#include "shapes/polygon.h"
#include "shapes/transform.h"

namespace shapes {

Rect::Rect(Vec2 origin, double width, double height)
    : origin_(origin), width_(width), height_(height) {
  if (!(width > 0.0) || !(height > 0.0)) {
    throw std::invalid_argument("rect size must be positive");
  }
}

Rect Rect::from_corners(Vec2 a, Vec2 b) {
  const Vec2 lo{std::min(a.x, b.x), std::min(a.y, b.y)};
  const Vec2 hi{std::max(a.x, b.x), std::max(a.y, b.y)};
  return Rect(lo, hi.x - lo.x, hi.y - lo.y);
}

double Rect::area() const { return width_ * height_; }

double Rect::perimeter() const { return 2.0 * (width_ + height_); }

BBox Rect::bounds() const { return BBox(origin_, origin_ + Vec2{width_, height_}); }

bool Rect::contains(Vec2 p) const { return bounds().contains(p); }

Vec2 Rect::centroid() const { return origin_ + Vec2{width_ / 2.0, height_ / 2.0}; }

std::vector<Vec2> Rect::outline(int /*segments*/) const {
  return {origin_, origin_ + Vec2{width_, 0.0}, origin_ + Vec2{width_, height_},
          origin_ + Vec2{0.0, height_}};
}

std::unique_ptr<Shape> Rect::clone() const { return std::make_unique<Rect>(*this); }

std::string Rect::describe() const {
  return "rect at " + to_string(origin_) + " " + fmt_double(width_) + "x" + fmt_double(height_);
}

std::unique_ptr<Shape> Rect::transformed(const Transform& t) const {
  if (t.is_axis_aligned()) {
    const Rect r = from_corners(t.apply(origin_), t.apply(origin_ + Vec2{width_, height_}));
    return std::make_unique<Rect>(r);
  }
  return std::make_unique<Polygon>(t.apply(outline(4)));
}

}  // namespace shapes
