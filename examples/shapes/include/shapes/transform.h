// 2D affine transforms: p' = [a c; b d] p + [e; f].
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shapes/vec.h"

namespace shapes {

class Transform {
 public:
  constexpr Transform() = default;
  constexpr Transform(double a, double b, double c, double d, double e, double f)
      : a_(a), b_(b), c_(c), d_(d), e_(e), f_(f) {}

  static Transform identity() { return {}; }
  static Transform translate(Vec2 offset);
  static Transform scale(double sx, double sy);
  static Transform scale(double s) { return scale(s, s); }
  static Transform rotate(double radians);
  static Transform rotate_about(double radians, Vec2 pivot);

  Vec2 apply(Vec2 p) const;
  Vec2 apply_vector(Vec2 v) const;  // ignores translation
  std::vector<Vec2> apply(std::span<const Vec2> points) const;

  // The transform that applies *this first and then `next`.
  Transform then(const Transform& next) const;
  Transform operator*(const Transform& rhs) const;  // (*this)(rhs(p))

  double determinant() const { return a_ * d_ - b_ * c_; }
  std::optional<Transform> inverse() const;

  bool is_identity() const;
  // Rotation + uniform scale + translation (no shear, no mirroring).
  bool is_similarity() const;
  // Scale + translation only.
  bool is_axis_aligned() const;
  double uniform_scale() const;
  double rotation_angle() const;

  std::string to_string() const;

 private:
  double a_ = 1, b_ = 0, c_ = 0, d_ = 1, e_ = 0, f_ = 0;
};

}  // namespace shapes
