#include "shapes/intersect.h"

#include <algorithm>
#include <cmath>

namespace shapes {
namespace {

bool on_segment(Vec2 p, const Segment& s) {
  return p.x >= std::min(s.a.x, s.b.x) - kEpsilon && p.x <= std::max(s.a.x, s.b.x) + kEpsilon &&
         p.y >= std::min(s.a.y, s.b.y) - kEpsilon && p.y <= std::max(s.a.y, s.b.y) + kEpsilon;
}

std::vector<Segment> edges(const std::vector<Vec2>& ring) {
  std::vector<Segment> out;
  out.reserve(ring.size());
  for (std::size_t i = 0, n = ring.size(); i < n; ++i) out.push_back({ring[i], ring[(i + 1) % n]});
  return out;
}

}  // namespace

bool segments_intersect(const Segment& s, const Segment& t) {
  const int o1 = orientation(s.a, s.b, t.a);
  const int o2 = orientation(s.a, s.b, t.b);
  const int o3 = orientation(t.a, t.b, s.a);
  const int o4 = orientation(t.a, t.b, s.b);
  if (o1 != o2 && o3 != o4) return true;
  return (o1 == 0 && on_segment(t.a, s)) || (o2 == 0 && on_segment(t.b, s)) ||
         (o3 == 0 && on_segment(s.a, t)) || (o4 == 0 && on_segment(s.b, t));
}

std::optional<Vec2> segment_intersection(const Segment& s, const Segment& t) {
  const Vec2 r = s.b - s.a;
  const Vec2 q = t.b - t.a;
  const double denom = cross(r, q);
  if (std::fabs(denom) < kEpsilon) return std::nullopt;  // parallel or collinear
  const double u = cross(t.a - s.a, q) / denom;
  const double v = cross(t.a - s.a, r) / denom;
  if (u < -kEpsilon || u > 1 + kEpsilon || v < -kEpsilon || v > 1 + kEpsilon) return std::nullopt;
  return s.a + r * u;
}

double distance_to_segment(Vec2 p, const Segment& s) {
  const Vec2 d = s.b - s.a;
  const double len2 = dot(d, d);
  if (len2 < kEpsilon) return distance(p, s.a);
  const double t = std::clamp(dot(p - s.a, d) / len2, 0.0, 1.0);
  return distance(p, s.a + d * t);
}

bool overlaps(const Shape& a, const Shape& b) {
  if (!a.bounds().overlaps(b.bounds())) return false;
  const std::vector<Vec2> ra = a.outline(kDefaultSegments);
  const std::vector<Vec2> rb = b.outline(kDefaultSegments);
  if (std::ranges::any_of(ra, [&](Vec2 p) { return b.contains(p); })) return true;
  if (std::ranges::any_of(rb, [&](Vec2 p) { return a.contains(p); })) return true;
  const std::vector<Segment> ea = edges(ra);
  const std::vector<Segment> eb = edges(rb);
  for (const Segment& s : ea) {
    for (const Segment& t : eb) {
      if (segments_intersect(s, t)) return true;
    }
  }
  return false;
}

std::vector<std::pair<std::size_t, std::size_t>> overlapping_pairs(const Scene& scene) {
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  const auto& items = scene.items();
  for (std::size_t i = 0; i < items.size(); ++i) {
    for (std::size_t j = i + 1; j < items.size(); ++j) {
      if (overlaps(*items[i].shape, *items[j].shape)) pairs.emplace_back(i, j);
    }
  }
  return pairs;
}

}  // namespace shapes
