#pragma once

#include <array>

#include "shapes/shape.h"

namespace shapes {

class Triangle final : public Shape {
 public:
  Triangle(Vec2 a, Vec2 b, Vec2 c);

  const std::array<Vec2, 3>& vertices() const { return v_; }
  double signed_area() const;
  // Interior angles in radians, at vertices a, b, c.
  std::array<double, 3> angles() const;
  bool is_right(double eps = 1e-6) const;
  Vec2 circumcenter() const;

  Kind kind() const override { return Kind::Triangle; }
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
  std::array<Vec2, 3> v_;
};

}  // namespace shapes
