// Two-dimensional vectors used by every part of the library.
#pragma once

#include <cmath>
#include <compare>
#include <concepts>
#include <string>

namespace shapes {

inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kEpsilon = 1e-9;

template <std::floating_point T>
struct BasicVec2 {
  T x{};
  T y{};

  constexpr BasicVec2 operator+(const BasicVec2& o) const { return {x + o.x, y + o.y}; }
  constexpr BasicVec2 operator-(const BasicVec2& o) const { return {x - o.x, y - o.y}; }
  constexpr BasicVec2 operator-() const { return {-x, -y}; }
  constexpr BasicVec2 operator*(T s) const { return {x * s, y * s}; }
  constexpr BasicVec2 operator/(T s) const { return {x / s, y / s}; }
  constexpr BasicVec2& operator+=(const BasicVec2& o) {
    x += o.x;
    y += o.y;
    return *this;
  }
  constexpr BasicVec2& operator-=(const BasicVec2& o) {
    x -= o.x;
    y -= o.y;
    return *this;
  }
  constexpr BasicVec2& operator*=(T s) {
    x *= s;
    y *= s;
    return *this;
  }

  friend constexpr auto operator<=>(const BasicVec2&, const BasicVec2&) = default;
};

template <std::floating_point T>
constexpr BasicVec2<T> operator*(T s, const BasicVec2<T>& v) {
  return v * s;
}

using Vec2 = BasicVec2<double>;

template <std::floating_point T>
constexpr T dot(const BasicVec2<T>& a, const BasicVec2<T>& b) {
  return a.x * b.x + a.y * b.y;
}

// z component of the 3D cross product; positive when b is counter-clockwise of a.
template <std::floating_point T>
constexpr T cross(const BasicVec2<T>& a, const BasicVec2<T>& b) {
  return a.x * b.y - a.y * b.x;
}

template <std::floating_point T>
constexpr BasicVec2<T> lerp(const BasicVec2<T>& a, const BasicVec2<T>& b, T t) {
  return a + (b - a) * t;
}

double length(Vec2 v);
double distance(Vec2 a, Vec2 b);
Vec2 normalized(Vec2 v);
Vec2 rotate(Vec2 v, double radians);
Vec2 perpendicular(Vec2 v);
double angle_of(Vec2 v);

bool approx_equal(double a, double b, double eps = 1e-6);
bool approx_equal(Vec2 a, Vec2 b, double eps = 1e-6);

// Orientation of the triple (a, b, c): +1 counter-clockwise, -1 clockwise, 0 collinear.
int orientation(Vec2 a, Vec2 b, Vec2 c);

std::string to_string(Vec2 v);

}  // namespace shapes
