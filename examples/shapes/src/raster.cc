#include "shapes/raster.h"

#include <algorithm>
#include <cctype>

namespace shapes {

std::vector<std::string> rasterize(const Scene& scene, const RasterOptions& options) {
  const int cols = std::max(options.columns, 1);
  const int rows = std::max(options.rows, 1);
  std::vector<std::string> grid(static_cast<std::size_t>(rows),
                                std::string(static_cast<std::size_t>(cols), options.background));
  const BBox box = scene.bounds();
  if (box.empty()) return grid;
  const std::vector<const Item*> order = scene.paint_order();
  const double cell_w = box.width() / cols;
  const double cell_h = box.height() / rows;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const Vec2 p{box.min().x + (c + 0.5) * cell_w, box.max().y - (r + 0.5) * cell_h};
      // Later items in painting order are drawn on top.
      const auto top = std::find_if(order.rbegin(), order.rend(),
                                    [p](const Item* item) { return item->shape->contains(p); });
      if (top != order.rend() && !(*top)->name.empty()) {
        grid[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)] = (*top)->name.front();
      }
    }
  }
  return grid;
}

double coverage(const std::vector<std::string>& raster, char background) {
  std::size_t total = 0;
  std::size_t covered = 0;
  for (const std::string& row : raster) {
    total += row.size();
    covered += row.size() - static_cast<std::size_t>(std::ranges::count(row, background));
  }
  return total == 0 ? 0.0 : static_cast<double>(covered) / static_cast<double>(total);
}

}  // namespace shapes
