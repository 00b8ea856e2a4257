// Library version. Deliberately included by exactly two translation units
// (src/version.cc and app/main.cc); see examples/shapes/README.md.
#pragma once

#include <string>

namespace shapes {

inline constexpr int kVersionMajor = 1;
inline constexpr int kVersionMinor = 4;
inline constexpr int kVersionPatch = 2;
inline constexpr const char* kCodename = "tessellate";

std::string version_string();

}  // namespace shapes
