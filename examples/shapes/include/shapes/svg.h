#pragma once

#include <string>

#include "shapes/scene.h"

namespace shapes {

struct SvgOptions {
  double scale = 10.0;   // pixels per unit
  double margin = 1.0;   // in scene units
  int precision = 2;
  bool include_labels = true;
};

// Renders the scene as a standalone SVG document (y axis pointing up).
std::string to_svg(const Scene& scene, const SvgOptions& options = {});

}  // namespace shapes
