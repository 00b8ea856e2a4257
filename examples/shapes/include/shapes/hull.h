// Convex hulls and related point-set measures.
#pragma once

#include <span>
#include <vector>

#include "shapes/vec.h"

namespace shapes {

// Andrew's monotone chain; returns the hull counter-clockwise without
// collinear points, starting from the lowest-leftmost point.
std::vector<Vec2> convex_hull(std::span<const Vec2> points);

// Largest distance between any two points (rotating calipers over the hull).
double diameter(std::span<const Vec2> points);

}  // namespace shapes
