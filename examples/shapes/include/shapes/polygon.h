#pragma once

#include <span>

#include "shapes/shape.h"

namespace shapes {

// Simple polygon; vertices are stored counter-clockwise.
class Polygon final : public Shape {
 public:
  explicit Polygon(std::vector<Vec2> vertices);

  const std::vector<Vec2>& vertices() const { return vertices_; }
  std::size_t size() const { return vertices_.size(); }

  Kind kind() const override { return Kind::Polygon; }
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
  std::vector<Vec2> vertices_;
};

double signed_area(std::span<const Vec2> ring);
double ring_perimeter(std::span<const Vec2> ring);
bool point_in_ring(std::span<const Vec2> ring, Vec2 p);
bool ring_is_convex(std::span<const Vec2> ring);

}  // namespace shapes
