#pragma once

#include "shapes/shape.h"

namespace shapes {

class Circle final : public Shape {
 public:
  Circle(Vec2 center, double radius);

  Vec2 center() const { return center_; }
  double radius() const { return radius_; }

  Kind kind() const override { return Kind::Circle; }
  double area() const override;
  double perimeter() const override;
  BBox bounds() const override;
  bool contains(Vec2 p) const override;
  Vec2 centroid() const override { return center_; }
  std::vector<Vec2> outline(int segments) const override;
  std::unique_ptr<Shape> clone() const override;
  std::string describe() const override;
  std::unique_ptr<Shape> transformed(const Transform& t) const override;

 private:
  Vec2 center_;
  double radius_;
};

}  // namespace shapes
