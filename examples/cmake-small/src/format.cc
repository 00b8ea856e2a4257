#include "geo/format.h"

#include <iomanip>
#include <sstream>

#include "geo/config.h"

namespace geo {
std::string describe(const Polygon& p) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << p.points().size() << " points, area " << p.area() << ", perimeter "
      << p.perimeter() << " (" << __FILE__ << ")";
  return out.str();
}

std::string version_string() { return std::string("geo ") + GEO_VERSION; }
}  // namespace geo
