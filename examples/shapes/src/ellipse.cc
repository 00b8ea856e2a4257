#include "shapes/ellipse.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "shapes/format.h"
#include "shapes/transform.h"

namespace shapes {

Ellipse::Ellipse(Vec2 center, double rx, double ry, double rotation)
    : center_(center), rx_(rx), ry_(ry), rotation_(std::remainder(rotation, kPi)) {
  if (!(rx > 0.0) || !(ry > 0.0)) throw std::invalid_argument("ellipse radii must be positive");
}

double Ellipse::eccentricity() const {
  const double a = std::max(rx_, ry_);
  const double b = std::min(rx_, ry_);
  return std::sqrt(1.0 - (b * b) / (a * a));
}

double Ellipse::area() const { return kPi * rx_ * ry_; }

double Ellipse::perimeter() const {
  // Ramanujan's second approximation.
  const double h = ((rx_ - ry_) * (rx_ - ry_)) / ((rx_ + ry_) * (rx_ + ry_));
  return kPi * (rx_ + ry_) * (1.0 + 3.0 * h / (10.0 + std::sqrt(4.0 - 3.0 * h)));
}

BBox Ellipse::bounds() const {
  const double c = std::cos(rotation_);
  const double s = std::sin(rotation_);
  const double hx = std::sqrt(rx_ * rx_ * c * c + ry_ * ry_ * s * s);
  const double hy = std::sqrt(rx_ * rx_ * s * s + ry_ * ry_ * c * c);
  return BBox(center_ - Vec2{hx, hy}, center_ + Vec2{hx, hy});
}

bool Ellipse::contains(Vec2 p) const {
  const Vec2 local = rotate(p - center_, -rotation_);
  const double u = local.x / rx_;
  const double v = local.y / ry_;
  return u * u + v * v <= 1.0 + kEpsilon;
}

std::vector<Vec2> Ellipse::outline(int segments) const {
  const int n = std::max(segments, 3);
  std::vector<Vec2> points;
  points.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const double t = 2.0 * kPi * i / n;
    points.push_back(center_ + rotate({rx_ * std::cos(t), ry_ * std::sin(t)}, rotation_));
  }
  return points;
}

std::unique_ptr<Shape> Ellipse::clone() const { return std::make_unique<Ellipse>(*this); }

std::string Ellipse::describe() const {
  return "ellipse c=" + to_string(center_) + " rx=" + fmt_double(rx_) + " ry=" + fmt_double(ry_) +
         " angle=" + fmt_double(rotation_ * 180.0 / kPi, 1);
}

std::unique_ptr<Shape> Ellipse::transformed(const Transform& t) const {
  if (t.is_similarity()) {
    const double s = t.uniform_scale();
    return std::make_unique<Ellipse>(t.apply(center_), rx_ * s, ry_ * s,
                                     rotation_ + t.rotation_angle());
  }
  return Shape::transformed(t);
}

}  // namespace shapes
