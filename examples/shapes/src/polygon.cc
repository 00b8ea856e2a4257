#include "shapes/polygon.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "shapes/format.h"
#include "shapes/transform.h"

namespace shapes {

double signed_area(std::span<const Vec2> ring) {
  double twice = 0.0;
  for (std::size_t i = 0, n = ring.size(); i < n; ++i) {
    twice += cross(ring[i], ring[(i + 1) % n]);
  }
  return twice / 2.0;
}

double ring_perimeter(std::span<const Vec2> ring) {
  double total = 0.0;
  for (std::size_t i = 0, n = ring.size(); i < n; ++i) total += distance(ring[i], ring[(i + 1) % n]);
  return total;
}

bool point_in_ring(std::span<const Vec2> ring, Vec2 p) {
  // Winding number; points on the boundary count as inside.
  int winding = 0;
  for (std::size_t i = 0, n = ring.size(); i < n; ++i) {
    const Vec2 a = ring[i];
    const Vec2 b = ring[(i + 1) % n];
    if (orientation(a, b, p) == 0 && p.x >= std::min(a.x, b.x) - kEpsilon &&
        p.x <= std::max(a.x, b.x) + kEpsilon && p.y >= std::min(a.y, b.y) - kEpsilon &&
        p.y <= std::max(a.y, b.y) + kEpsilon) {
      return true;
    }
    if (a.y <= p.y) {
      if (b.y > p.y && cross(b - a, p - a) > 0) ++winding;
    } else if (b.y <= p.y && cross(b - a, p - a) < 0) {
      --winding;
    }
  }
  return winding != 0;
}

bool ring_is_convex(std::span<const Vec2> ring) {
  const std::size_t n = ring.size();
  if (n < 3) return false;
  int sign = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int o = orientation(ring[i], ring[(i + 1) % n], ring[(i + 2) % n]);
    if (o == 0) continue;
    if (sign == 0) {
      sign = o;
    } else if (o != sign) {
      return false;
    }
  }
  return sign != 0;
}

Polygon::Polygon(std::vector<Vec2> vertices) : vertices_(std::move(vertices)) {
  // Drop consecutive duplicates, including a closing vertex equal to the first.
  auto last = std::unique(vertices_.begin(), vertices_.end(),
                          [](Vec2 a, Vec2 b) { return approx_equal(a, b); });
  vertices_.erase(last, vertices_.end());
  if (vertices_.size() > 1 && approx_equal(vertices_.front(), vertices_.back())) {
    vertices_.pop_back();
  }
  if (vertices_.size() < 3) throw std::invalid_argument("polygon needs at least 3 vertices");
  const double a = signed_area(vertices_);
  if (std::fabs(a) < kEpsilon) throw std::invalid_argument("polygon has zero area");
  if (a < 0) std::reverse(vertices_.begin(), vertices_.end());
}

double Polygon::area() const { return std::fabs(signed_area(vertices_)); }

double Polygon::perimeter() const { return ring_perimeter(vertices_); }

BBox Polygon::bounds() const { return BBox::of_points(vertices_); }

bool Polygon::contains(Vec2 p) const { return bounds().contains(p) && point_in_ring(vertices_, p); }

Vec2 Polygon::centroid() const {
  double twice_area = 0.0;
  Vec2 acc{};
  for (std::size_t i = 0, n = vertices_.size(); i < n; ++i) {
    const Vec2 a = vertices_[i];
    const Vec2 b = vertices_[(i + 1) % n];
    const double w = cross(a, b);
    twice_area += w;
    acc += (a + b) * w;
  }
  return acc / (3.0 * twice_area);
}

std::vector<Vec2> Polygon::outline(int /*segments*/) const { return vertices_; }

std::unique_ptr<Shape> Polygon::clone() const { return std::make_unique<Polygon>(*this); }

std::string Polygon::describe() const {
  std::vector<std::string> parts;
  parts.reserve(vertices_.size());
  for (const Vec2& v : vertices_) parts.push_back(to_string(v));
  return "polygon[" + std::to_string(vertices_.size()) + "] " + join(parts, " ");
}

std::unique_ptr<Shape> Polygon::transformed(const Transform& t) const {
  return std::make_unique<Polygon>(t.apply(vertices_));
}

}  // namespace shapes
