#include "shapes/circle.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "shapes/ellipse.h"
#include "shapes/format.h"
#include "shapes/transform.h"

namespace shapes {

Circle::Circle(Vec2 center, double radius) : center_(center), radius_(radius) {
  if (!(radius > 0.0)) throw std::invalid_argument("circle radius must be positive");
}

double Circle::area() const { return kPi * radius_ * radius_; }

double Circle::perimeter() const { return 2.0 * kPi * radius_; }

BBox Circle::bounds() const {
  return BBox(center_ - Vec2{radius_, radius_}, center_ + Vec2{radius_, radius_});
}

bool Circle::contains(Vec2 p) const {
  const Vec2 d = p - center_;
  return dot(d, d) <= radius_ * radius_ * (1.0 + kEpsilon);
}

std::vector<Vec2> Circle::outline(int segments) const {
  const int n = std::max(segments, 3);
  std::vector<Vec2> points;
  points.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const double angle = 2.0 * kPi * i / n;
    points.push_back(center_ + Vec2{std::cos(angle), std::sin(angle)} * radius_);
  }
  return points;
}

std::unique_ptr<Shape> Circle::clone() const { return std::make_unique<Circle>(*this); }

std::string Circle::describe() const {
  return "circle c=" + to_string(center_) + " r=" + fmt_double(radius_);
}

std::unique_ptr<Shape> Circle::transformed(const Transform& t) const {
  if (t.is_similarity()) {
    return std::make_unique<Circle>(t.apply(center_), radius_ * t.uniform_scale());
  }
  if (t.is_axis_aligned()) {
    const Vec2 axes = t.apply_vector({radius_, radius_});
    return std::make_unique<Ellipse>(t.apply(center_), axes.x, axes.y, 0.0);
  }
  return Shape::transformed(t);
}

}  // namespace shapes
