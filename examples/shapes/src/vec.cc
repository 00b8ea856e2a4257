#include "shapes/vec.h"

#include <algorithm>
#include <cmath>

#include "shapes/format.h"

namespace shapes {

double length(Vec2 v) { return std::hypot(v.x, v.y); }

double distance(Vec2 a, Vec2 b) { return length(b - a); }

Vec2 normalized(Vec2 v) {
  const double len = length(v);
  if (len < kEpsilon) return {0.0, 0.0};
  return v / len;
}

Vec2 rotate(Vec2 v, double radians) {
  const double c = std::cos(radians);
  const double s = std::sin(radians);
  return {v.x * c - v.y * s, v.x * s + v.y * c};
}

Vec2 perpendicular(Vec2 v) { return {-v.y, v.x}; }

double angle_of(Vec2 v) { return std::atan2(v.y, v.x); }

bool approx_equal(double a, double b, double eps) {
  const double scale = std::max({1.0, std::fabs(a), std::fabs(b)});
  return std::fabs(a - b) <= eps * scale;
}

bool approx_equal(Vec2 a, Vec2 b, double eps) {
  return approx_equal(a.x, b.x, eps) && approx_equal(a.y, b.y, eps);
}

int orientation(Vec2 a, Vec2 b, Vec2 c) {
  const double v = cross(b - a, c - a);
  const double scale = std::max({1.0, length(b - a), length(c - a)});
  if (v > kEpsilon * scale * scale) return 1;
  if (v < -kEpsilon * scale * scale) return -1;
  return 0;
}

std::string to_string(Vec2 v) {
  std::string out = "(";
  out += fmt_double(v.x);
  out += ", ";
  out += fmt_double(v.y);
  out += ")";
  return out;
}

}  // namespace shapes
