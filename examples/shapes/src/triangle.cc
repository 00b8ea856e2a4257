#include "shapes/triangle.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "shapes/format.h"
#include "shapes/transform.h"

namespace shapes {

Triangle::Triangle(Vec2 a, Vec2 b, Vec2 c) : v_{a, b, c} {
  const int o = orientation(a, b, c);
  if (o == 0) throw std::invalid_argument("triangle vertices are collinear");
  if (o < 0) std::swap(v_[1], v_[2]);  // keep counter-clockwise order
}

double Triangle::signed_area() const { return 0.5 * cross(v_[1] - v_[0], v_[2] - v_[0]); }

double Triangle::area() const { return std::fabs(signed_area()); }

double Triangle::perimeter() const {
  return distance(v_[0], v_[1]) + distance(v_[1], v_[2]) + distance(v_[2], v_[0]);
}

std::array<double, 3> Triangle::angles() const {
  std::array<double, 3> out{};
  for (std::size_t i = 0; i < 3; ++i) {
    const Vec2 u = v_[(i + 1) % 3] - v_[i];
    const Vec2 w = v_[(i + 2) % 3] - v_[i];
    out[i] = std::acos(std::clamp(dot(u, w) / (length(u) * length(w)), -1.0, 1.0));
  }
  return out;
}

bool Triangle::is_right(double eps) const {
  const auto a = angles();
  return std::any_of(a.begin(), a.end(),
                     [eps](double x) { return std::fabs(x - kPi / 2.0) < eps; });
}

Vec2 Triangle::circumcenter() const {
  const Vec2 a = v_[0];
  const Vec2 b = v_[1] - a;
  const Vec2 c = v_[2] - a;
  const double d = 2.0 * cross(b, c);
  const double b2 = dot(b, b);
  const double c2 = dot(c, c);
  return a + Vec2{(c.y * b2 - b.y * c2) / d, (b.x * c2 - c.x * b2) / d};
}

BBox Triangle::bounds() const { return BBox::of_points(v_); }

bool Triangle::contains(Vec2 p) const {
  for (std::size_t i = 0; i < 3; ++i) {
    if (orientation(v_[i], v_[(i + 1) % 3], p) < 0) return false;
  }
  return true;
}

Vec2 Triangle::centroid() const {
  const Vec2 sum = std::accumulate(v_.begin(), v_.end(), Vec2{});
  return sum / 3.0;
}

std::vector<Vec2> Triangle::outline(int /*segments*/) const { return {v_.begin(), v_.end()}; }

std::unique_ptr<Shape> Triangle::clone() const { return std::make_unique<Triangle>(*this); }

std::string Triangle::describe() const {
  return "triangle " + to_string(v_[0]) + " " + to_string(v_[1]) + " " + to_string(v_[2]);
}

std::unique_ptr<Shape> Triangle::transformed(const Transform& t) const {
  return std::make_unique<Triangle>(t.apply(v_[0]), t.apply(v_[1]), t.apply(v_[2]));
}

}  // namespace shapes
