// Intersection tests between segments and shapes.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "shapes/scene.h"
#include "shapes/shape.h"
#include "shapes/vec.h"

namespace shapes {

struct Segment {
  Vec2 a;
  Vec2 b;
};

bool segments_intersect(const Segment& s, const Segment& t);
std::optional<Vec2> segment_intersection(const Segment& s, const Segment& t);
double distance_to_segment(Vec2 p, const Segment& s);

// True if the interiors or boundaries of the two shapes touch (approximated
// with outlines of kDefaultSegments vertices for curved shapes).
bool overlaps(const Shape& a, const Shape& b);

// Index pairs (i < j) of overlapping items in the scene, sorted.
std::vector<std::pair<std::size_t, std::size_t>> overlapping_pairs(const Scene& scene);

}  // namespace shapes
