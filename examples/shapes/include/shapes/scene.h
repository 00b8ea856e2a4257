// A scene: an ordered collection of named, coloured shapes on layers.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shapes/bbox.h"
#include "shapes/color.h"
#include "shapes/shape.h"

namespace shapes {

class Transform;

struct Item {
  std::string name;
  ShapePtr shape;
  Color fill;
  int layer = 0;
};

class Scene {
 public:
  Scene() = default;
  Scene(const Scene& other);
  Scene& operator=(const Scene& other);
  Scene(Scene&&) noexcept = default;
  Scene& operator=(Scene&&) noexcept = default;

  // Returns false (and leaves the scene unchanged) if the name is taken.
  bool add(std::string name, ShapePtr shape, Color fill = {}, int layer = 0);
  bool remove(std::string_view name);
  std::size_t remove_if(const std::function<bool(const Item&)>& pred);

  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const std::vector<Item>& items() const { return items_; }
  const Item* find(std::string_view name) const;

  BBox bounds() const;
  double total_area() const;
  // Names of items containing p, topmost (highest layer, latest added) first.
  std::vector<std::string> hit_test(Vec2 p) const;
  // Items in painting order: by layer, then insertion order.
  std::vector<const Item*> paint_order() const;

  Scene transformed(const Transform& t) const;
  void sort_by_name();

 private:
  std::vector<Item> items_;
};

}  // namespace shapes
