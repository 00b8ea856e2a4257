#include "geo/polygon.h"

#include <cmath>
#include <numeric>

namespace geo {
double Polygon::area() const {
  double a = 0;
  for (size_t i = 0; i < pts_.size(); ++i) a += pts_[i].cross(pts_[(i + 1) % pts_.size()]);
  return std::fabs(a) / 2;
}

double Polygon::perimeter() const {
  double p = 0;
  for (size_t i = 0; i < pts_.size(); ++i) p += (pts_[(i + 1) % pts_.size()] - pts_[i]).norm();
  return p;
}
}  // namespace geo
