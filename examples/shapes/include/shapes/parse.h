// Parser for the line-based scene description format:
//
//   # comment (a "#" at line start or after whitespace)
//   circle   name=sun  cx=0 cy=0 r=2 fill=gold layer=1
//   rect     name=box  x=1 y=1 w=3 h=2
//   triangle name=t    ax=0 ay=0 bx=1 by=0 cx=0 cy=1
//   polygon  name=p    points=0,0;4,0;4,3
//   ellipse  name=e    cx=0 cy=0 rx=3 ry=1 angle=30   (degrees)
//   move     name=box  dx=1 dy=2        (translate an existing item)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "shapes/scene.h"

namespace shapes {

struct ParseError {
  std::size_t line = 0;
  std::string message;
};

struct ParseResult {
  Scene scene;
  std::vector<ParseError> errors;
  bool ok() const { return errors.empty(); }
};

ParseResult parse_scene(std::string_view text);
std::string to_string(const ParseError& e);

}  // namespace shapes
