#pragma once
#include <cmath>
#include <string>

namespace geo {

struct Point {
  double x = 0, y = 0;
  Point operator+(const Point& o) const { return {x + o.x, y + o.y}; }
  Point operator-(const Point& o) const { return {x - o.x, y - o.y}; }
  double cross(const Point& o) const { return x * o.y - y * o.x; }
  double norm() const { return std::sqrt(x * x + y * y); }
};

std::string to_string(const Point& p);

}  // namespace geo
