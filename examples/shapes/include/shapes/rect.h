#pragma once

#include "shapes/shape.h"

namespace shapes {

// Axis-aligned rectangle given by its lower-left corner and size.
class Rect final : public Shape {
 public:
  Rect(Vec2 origin, double width, double height);
  static Rect from_corners(Vec2 a, Vec2 b);

  Vec2 origin() const { return origin_; }
  double width() const { return width_; }
  double height() const { return height_; }

  Kind kind() const override { return Kind::Rect; }
  double area() const override;
  double perimeter() const override;
  BBox bounds() const override;
  bool contains(Vec2 p) const override;
  Vec2 centroid() const override;
  std::vector<Vec2> outline(int segments) const override;
  std::unique_ptr<Shape> clone() const override;
  std::string describe() const override;
  std::unique_ptr<Shape> transformed(const Transform& t) const override;

 private:
  Vec2 origin_;
  double width_;
  double height_;
};

}  // namespace shapes
