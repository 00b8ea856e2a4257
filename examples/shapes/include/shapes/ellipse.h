#pragma once

#include "shapes/shape.h"

namespace shapes {

// Ellipse with semi-axes rx (along the rotated x axis) and ry.
class Ellipse final : public Shape {
 public:
  Ellipse(Vec2 center, double rx, double ry, double rotation = 0.0);

  Vec2 center() const { return center_; }
  double rx() const { return rx_; }
  double ry() const { return ry_; }
  double rotation() const { return rotation_; }
  double eccentricity() const;

  Kind kind() const override { return Kind::Ellipse; }
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
  double rx_;
  double ry_;
  double rotation_;
};

}  // namespace shapes
