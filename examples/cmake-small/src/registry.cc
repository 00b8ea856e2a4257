#include "geo/registry.h"

#include "geo/checksum.h"

#ifndef GEO_INTERNAL
#error "GEO_INTERNAL must be defined for the library"
#endif

namespace geo {
void Registry::add(const std::string& name, Polygon p) { shapes_[name] = std::make_unique<Polygon>(std::move(p)); }

const Polygon* Registry::find(const std::string& name) const {
  auto it = shapes_.find(name);
  return it == shapes_.end() ? nullptr : it->second.get();
}

unsigned Registry::fingerprint() const {
  std::string all;
  for (auto& [name, _] : shapes_) all += name;
  return geo_crc32(all.data(), all.size());
}
}  // namespace geo
