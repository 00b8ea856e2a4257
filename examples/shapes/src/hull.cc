#include "shapes/hull.h"

#include <algorithm>
#include <cmath>

namespace shapes {

std::vector<Vec2> convex_hull(std::span<const Vec2> points) {
  std::vector<Vec2> pts(points.begin(), points.end());
  std::ranges::sort(pts, [](Vec2 a, Vec2 b) { return a.y != b.y ? a.y < b.y : a.x < b.x; });
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  if (pts.size() < 3) return pts;

  // Monotone chain, sorted by (y, x) so the hull starts at the lowest-leftmost point.
  std::vector<Vec2> hull(2 * pts.size());
  std::size_t k = 0;
  for (const Vec2& p : pts) {  // right chain
    while (k >= 2 && cross(hull[k - 1] - hull[k - 2], p - hull[k - 2]) <= 0) --k;
    hull[k++] = p;
  }
  const std::size_t lower = k + 1;
  for (auto it = pts.rbegin() + 1; it != pts.rend(); ++it) {  // left chain
    while (k >= lower && cross(hull[k - 1] - hull[k - 2], *it - hull[k - 2]) <= 0) --k;
    hull[k++] = *it;
  }
  hull.resize(k - 1);
  return hull;
}

double diameter(std::span<const Vec2> points) {
  const std::vector<Vec2> hull = convex_hull(points);
  const std::size_t n = hull.size();
  if (n < 2) return 0.0;
  if (n == 2) return distance(hull[0], hull[1]);
  double best = 0.0;
  std::size_t j = 1;
  for (std::size_t i = 0; i < n; ++i) {
    const Vec2 edge = hull[(i + 1) % n] - hull[i];
    while (std::fabs(cross(edge, hull[(j + 1) % n] - hull[i])) >
           std::fabs(cross(edge, hull[j] - hull[i]))) {
      j = (j + 1) % n;
    }
    best = std::max({best, distance(hull[i], hull[j]), distance(hull[(i + 1) % n], hull[j])});
  }
  return best;
}

}  // namespace shapes
