// Creating shapes by kind name from string parameters.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shapes/shape.h"

namespace shapes {

using Params = std::map<std::string, std::string, std::less<>>;
// Either a shape or an error message.
using MakeResult = std::variant<ShapePtr, std::string>;
using Factory = std::function<MakeResult(const Params&)>;

class Registry {
 public:
  void add(std::string kind, std::vector<std::string> required, Factory factory);
  bool knows(std::string_view kind) const;
  std::vector<std::string> kinds() const;
  MakeResult make(std::string_view kind, const Params& params) const;

  // Registry with all built-in shapes: circle, rect, triangle, polygon, ellipse.
  static const Registry& builtin();

 private:
  struct Entry {
    std::vector<std::string> required;
    Factory factory;
  };
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace shapes
