#include "shapes/transform.h"

#include <cmath>

#include "shapes/format.h"

namespace shapes {

Transform Transform::translate(Vec2 offset) { return {1, 0, 0, 1, offset.x, offset.y}; }

Transform Transform::scale(double sx, double sy) { return {sx, 0, 0, sy, 0, 0}; }

Transform Transform::rotate(double radians) {
  const double c = std::cos(radians);
  const double s = std::sin(radians);
  return {c, s, -s, c, 0, 0};
}

Transform Transform::rotate_about(double radians, Vec2 pivot) {
  return translate(-pivot).then(rotate(radians)).then(translate(pivot));
}

Vec2 Transform::apply(Vec2 p) const {
  return {a_ * p.x + c_ * p.y + e_, b_ * p.x + d_ * p.y + f_};
}

Vec2 Transform::apply_vector(Vec2 v) const { return {a_ * v.x + c_ * v.y, b_ * v.x + d_ * v.y}; }

std::vector<Vec2> Transform::apply(std::span<const Vec2> points) const {
  std::vector<Vec2> out;
  out.reserve(points.size());
  for (const Vec2& p : points) out.push_back(apply(p));
  return out;
}

Transform Transform::operator*(const Transform& r) const {
  return {a_ * r.a_ + c_ * r.b_,       b_ * r.a_ + d_ * r.b_,
          a_ * r.c_ + c_ * r.d_,       b_ * r.c_ + d_ * r.d_,
          a_ * r.e_ + c_ * r.f_ + e_,  b_ * r.e_ + d_ * r.f_ + f_};
}

Transform Transform::then(const Transform& next) const { return next * (*this); }

std::optional<Transform> Transform::inverse() const {
  const double det = determinant();
  if (std::fabs(det) < kEpsilon) return std::nullopt;
  const double ia = d_ / det;
  const double ib = -b_ / det;
  const double ic = -c_ / det;
  const double id = a_ / det;
  return Transform{ia, ib, ic, id, -(ia * e_ + ic * f_), -(ib * e_ + id * f_)};
}

bool Transform::is_identity() const {
  return approx_equal(a_, 1) && approx_equal(b_, 0) && approx_equal(c_, 0) &&
         approx_equal(d_, 1) && approx_equal(e_, 0) && approx_equal(f_, 0);
}

bool Transform::is_similarity() const {
  return approx_equal(a_, d_) && approx_equal(b_, -c_) && determinant() > kEpsilon;
}

bool Transform::is_axis_aligned() const {
  return approx_equal(b_, 0) && approx_equal(c_, 0) && a_ > kEpsilon && d_ > kEpsilon;
}

double Transform::uniform_scale() const { return std::sqrt(std::fabs(determinant())); }

double Transform::rotation_angle() const { return std::atan2(b_, a_); }

std::string Transform::to_string() const {
  std::string out = "matrix(";
  const double values[] = {a_, b_, c_, d_, e_, f_};
  for (int i = 0; i < 6; ++i) {
    if (i != 0) out += ' ';
    out += fmt_double(values[i], 4);
  }
  out += ')';
  return out;
}

}  // namespace shapes
