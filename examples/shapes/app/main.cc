// `shapes`: parses a built-in scene description and prints a deterministic report.
#include <iostream>
#include <string_view>

#include "report.h"
#include "shapes/format.h"
#include "shapes/parse.h"
#include "shapes/raster.h"
#include "shapes/svg.h"
#include "shapes/version.h"

namespace {

constexpr std::string_view kScene = R"(# A small garden scene.
rect     name=lawn  x=-6 y=-4 w=14 h=4 fill=green
circle   name=sun   cx=5 cy=5 r=1.5 fill=gold layer=2
polygon  name=house points=-4,0;0,0;0,3;-2,5;-4,3 fill=#c86432 layer=1
triangle name=tent  ax=1 ay=0 bx=4 by=0 cx=2.5 cy=2.5 fill=orange layer=1
ellipse  name=pond  cx=3 cy=-2 rx=2.5 ry=1 angle=10 fill=blue layer=1
circle   name=ball  cx=-1 cy=-1.5 r=0.6 fill=red layer=3
polygon  name=kite  points=6,1;7,2.5;6,4.5;5,2.5 fill=purple layer=2
move     name=kite  dx=-0.5 dy=0.5
)";

constexpr std::string_view kBroken = R"(circle name=a cx=0 cy=0
square name=b size=2
rect name=c x=0 y=0 w=-1 h=2
circle name=d cx=0 cy=0 r=1
circle name=d cx=1 cy=1 r=1
ellipse name=e cx=0 cy=0 rx=1 ry=2 fill=mauve
polygon name=f points=0,0;1,1;2,2
)";

}  // namespace

int main() {
  std::cout << "shapes " << shapes::version_string() << " (format v" << shapes::kVersionMajor
            << ")\n\n";

  shapes::ParseResult parsed = shapes::parse_scene(kScene);
  if (!parsed.ok()) {
    for (const auto& e : parsed.errors) std::cerr << to_string(e) << '\n';
    return 1;
  }
  const shapes::Scene& scene = parsed.scene;

  app::print_inventory(std::cout, scene);
  std::cout << '\n';
  app::print_statistics(std::cout, scene);
  std::cout << '\n';
  app::print_geometry(std::cout, scene);
  std::cout << '\n';

  std::cout << "== raster ==\n";
  const auto raster = shapes::rasterize(scene, {.columns = 56, .rows = 18, .background = '.'});
  for (const auto& row : raster) std::cout << row << '\n';
  std::cout << "coverage " << shapes::fmt_double(shapes::coverage(raster) * 100.0, 1) << "%\n\n";

  const std::string svg = shapes::to_svg(scene);
  std::cout << "== svg ==\n"
            << svg.size() << " bytes, fnv1a " << shapes::hex64(shapes::fnv1a(svg)) << '\n'
            << svg.substr(0, svg.find('\n') + 1) << '\n';

  std::cout << "== diagnostics demo ==\n";
  const shapes::ParseResult broken = shapes::parse_scene(kBroken);
  for (const auto& e : broken.errors) std::cout << to_string(e) << '\n';
  std::cout << "recovered " << broken.scene.size() << " item(s)\n";
  return 0;
}
