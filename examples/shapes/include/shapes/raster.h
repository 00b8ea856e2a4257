// ASCII-art rendering of a scene.
#pragma once

#include <string>
#include <vector>

#include "shapes/scene.h"

namespace shapes {

struct RasterOptions {
  int columns = 60;
  int rows = 20;
  char background = '.';
};

// One string per row, top row first. Each cell shows the first letter of the
// topmost item whose shape contains the cell centre.
std::vector<std::string> rasterize(const Scene& scene, const RasterOptions& options = {});

// Fraction of cells covered by at least one shape.
double coverage(const std::vector<std::string>& raster, char background = '.');

}  // namespace shapes
