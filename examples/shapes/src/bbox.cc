#include "shapes/bbox.h"

#include <algorithm>

#include "shapes/format.h"

namespace shapes {

BBox::BBox(Vec2 a, Vec2 b)
    : min_{std::min(a.x, b.x), std::min(a.y, b.y)},
      max_{std::max(a.x, b.x), std::max(a.y, b.y)},
      empty_(false) {}

BBox BBox::of_points(std::span<const Vec2> points) {
  BBox box;
  for (const Vec2& p : points) box.expand(p);
  return box;
}

double BBox::width() const { return empty_ ? 0.0 : max_.x - min_.x; }
double BBox::height() const { return empty_ ? 0.0 : max_.y - min_.y; }
double BBox::area() const { return width() * height(); }
Vec2 BBox::center() const { return empty_ ? Vec2{} : (min_ + max_) * 0.5; }

void BBox::expand(Vec2 p) {
  if (empty_) {
    min_ = max_ = p;
    empty_ = false;
    return;
  }
  min_ = {std::min(min_.x, p.x), std::min(min_.y, p.y)};
  max_ = {std::max(max_.x, p.x), std::max(max_.y, p.y)};
}

void BBox::expand(const BBox& other) {
  if (other.empty_) return;
  expand(other.min_);
  expand(other.max_);
}

BBox BBox::inflated(double margin) const {
  if (empty_) return *this;
  return BBox(min_ - Vec2{margin, margin}, max_ + Vec2{margin, margin});
}

bool BBox::contains(Vec2 p) const {
  return !empty_ && p.x >= min_.x && p.x <= max_.x && p.y >= min_.y && p.y <= max_.y;
}

bool BBox::overlaps(const BBox& other) const {
  if (empty_ || other.empty_) return false;
  return min_.x <= other.max_.x && other.min_.x <= max_.x && min_.y <= other.max_.y &&
         other.min_.y <= max_.y;
}

BBox BBox::intersection(const BBox& other) const {
  if (!overlaps(other)) return {};
  return BBox({std::max(min_.x, other.min_.x), std::max(min_.y, other.min_.y)},
              {std::min(max_.x, other.max_.x), std::min(max_.y, other.max_.y)});
}

std::string to_string(const BBox& box) {
  if (box.empty()) return "[empty]";
  std::string out = "[";
  out += to_string(box.min());
  out += " .. ";
  out += to_string(box.max());
  out += "]";
  return out;
}

}  // namespace shapes
