#pragma once
#include <string>

#include "geo/polygon.h"

namespace geo {
std::string describe(const Polygon& p);
std::string version_string();
}  // namespace geo
