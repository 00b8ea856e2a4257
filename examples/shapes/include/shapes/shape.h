// The abstract Shape interface shared by all concrete shapes.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shapes/bbox.h"
#include "shapes/vec.h"

namespace shapes {

class Transform;

enum class Kind { Circle, Rect, Triangle, Polygon, Ellipse };

std::string_view kind_name(Kind kind);

class Shape {
 public:
  virtual ~Shape() = default;

  virtual Kind kind() const = 0;
  virtual double area() const = 0;
  virtual double perimeter() const = 0;
  virtual BBox bounds() const = 0;
  virtual bool contains(Vec2 p) const = 0;
  virtual Vec2 centroid() const = 0;
  // Polygonal approximation with counter-clockwise winding; curved shapes use
  // `segments` vertices, polygonal shapes return their exact vertices.
  virtual std::vector<Vec2> outline(int segments) const = 0;
  virtual std::unique_ptr<Shape> clone() const = 0;
  virtual std::string describe() const = 0;

  // Applies an affine transform. The default converts the outline to a polygon;
  // shapes override it when the result can keep their own kind.
  virtual std::unique_ptr<Shape> transformed(const Transform& t) const;

  bool is_convex() const;

 protected:
  Shape() = default;
  Shape(const Shape&) = default;
  Shape& operator=(const Shape&) = default;
};

using ShapePtr = std::unique_ptr<Shape>;

inline constexpr int kDefaultSegments = 48;

}  // namespace shapes
