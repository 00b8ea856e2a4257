#include "geo/point.h"

#include <sstream>

namespace geo {
std::string to_string(const Point& p) {
  std::ostringstream out;
  out << "(" << p.x << ", " << p.y << ")";
  return out.str();
}
}  // namespace geo
