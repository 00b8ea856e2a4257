#include "shapes/scene.h"

#include <algorithm>
#include <numeric>
#include <ranges>

#include "shapes/transform.h"

namespace shapes {

Scene::Scene(const Scene& other) { *this = other; }

Scene& Scene::operator=(const Scene& other) {
  if (this == &other) return *this;
  std::vector<Item> copy;
  copy.reserve(other.items_.size());
  for (const Item& item : other.items_) {
    copy.push_back(Item{item.name, item.shape->clone(), item.fill, item.layer});
  }
  items_ = std::move(copy);
  return *this;
}

bool Scene::add(std::string name, ShapePtr shape, Color fill, int layer) {
  if (!shape || find(name) != nullptr) return false;
  items_.push_back(Item{std::move(name), std::move(shape), fill, layer});
  return true;
}

bool Scene::remove(std::string_view name) {
  return remove_if([name](const Item& item) { return item.name == name; }) > 0;
}

std::size_t Scene::remove_if(const std::function<bool(const Item&)>& pred) {
  const auto removed = std::ranges::remove_if(items_, pred);
  const auto count = static_cast<std::size_t>(removed.size());
  items_.erase(removed.begin(), removed.end());
  return count;
}

const Item* Scene::find(std::string_view name) const {
  const auto it = std::ranges::find(items_, name, &Item::name);
  return it == items_.end() ? nullptr : &*it;
}

BBox Scene::bounds() const {
  BBox box;
  for (const Item& item : items_) box.expand(item.shape->bounds());
  return box;
}

double Scene::total_area() const {
  return std::accumulate(items_.begin(), items_.end(), 0.0,
                         [](double acc, const Item& item) { return acc + item.shape->area(); });
}

std::vector<const Item*> Scene::paint_order() const {
  std::vector<const Item*> order;
  order.reserve(items_.size());
  for (const Item& item : items_) order.push_back(&item);
  std::ranges::stable_sort(order, std::less<>{}, [](const Item* item) { return item->layer; });
  return order;
}

std::vector<std::string> Scene::hit_test(Vec2 p) const {
  std::vector<std::string> hits;
  for (const Item* item : paint_order() | std::views::reverse) {
    if (item->shape->contains(p)) hits.push_back(item->name);
  }
  return hits;
}

Scene Scene::transformed(const Transform& t) const {
  Scene out;
  for (const Item& item : items_) out.add(item.name, item.shape->transformed(t), item.fill, item.layer);
  return out;
}

void Scene::sort_by_name() { std::ranges::sort(items_, std::less<>{}, &Item::name); }

}  // namespace shapes
