// Axis-aligned bounding boxes.
#pragma once

#include <span>
#include <string>

#include "shapes/vec.h"

namespace shapes {

class BBox {
 public:
  BBox() = default;  // empty box
  BBox(Vec2 a, Vec2 b);

  static BBox of_points(std::span<const Vec2> points);

  bool empty() const { return empty_; }
  Vec2 min() const { return min_; }
  Vec2 max() const { return max_; }
  double width() const;
  double height() const;
  double area() const;
  Vec2 center() const;

  void expand(Vec2 p);
  void expand(const BBox& other);
  BBox inflated(double margin) const;

  bool contains(Vec2 p) const;
  bool overlaps(const BBox& other) const;
  BBox intersection(const BBox& other) const;

  bool operator==(const BBox& other) const = default;

 private:
  Vec2 min_{};
  Vec2 max_{};
  bool empty_ = true;
};

std::string to_string(const BBox& box);

}  // namespace shapes
