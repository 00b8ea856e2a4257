#pragma once
#include <map>
#include <memory>
#include <string>

#include "geo/polygon.h"

namespace geo {
class Registry {
 public:
  void add(const std::string& name, Polygon p);
  const Polygon* find(const std::string& name) const;
  size_t size() const { return shapes_.size(); }
  unsigned fingerprint() const;

 private:
  std::map<std::string, std::unique_ptr<Polygon>> shapes_;
};
}  // namespace geo
