#include "report.h"

#include <algorithm>
#include <ranges>
#include <string>
#include <vector>

#include "shapes/format.h"
#include "shapes/hull.h"
#include "shapes/intersect.h"
#include "shapes/stats.h"
#include "shapes/transform.h"

namespace app {

using namespace shapes;

void print_inventory(std::ostream& out, const Scene& scene) {
  Table table({"name", "kind", "layer", "area", "perimeter", "convex", "fill"},
              {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Left,
               Align::Left});
  for (const Item& item : scene.items()) {
    table.add_row({item.name, std::string(kind_name(item.shape->kind())),
                   std::to_string(item.layer), fmt_double(item.shape->area()),
                   fmt_double(item.shape->perimeter()), item.shape->is_convex() ? "yes" : "no",
                   to_hex(item.fill)});
  }
  out << "== inventory (" << scene.size() << " items) ==\n" << table.render();
  for (const Item& item : scene.items()) {
    out << "  " << pad_right(item.name, 8) << ' ' << item.shape->describe() << '\n';
  }
}

void print_statistics(std::ostream& out, const Scene& scene) {
  const auto& items = scene.items();
  out << "== statistics ==\n";
  out << "area       " << to_string(summarize_by(items, [](const Item& i) { return i.shape->area(); }))
      << '\n';
  out << "perimeter  "
      << to_string(summarize_by(items, [](const Item& i) { return i.shape->perimeter(); })) << '\n';
  out << "per kind  ";
  for (const auto& [kind, count] :
       count_by(items, [](const Item& i) { return std::string(kind_name(i.shape->kind())); })) {
    out << ' ' << kind << '=' << count;
  }
  out << '\n';
  out << "per layer ";
  for (const auto& [layer, count] : count_by(items, &Item::layer)) out << ' ' << layer << '=' << count;
  out << '\n';
  std::vector<double> areas;
  std::ranges::transform(items, std::back_inserter(areas),
                         [](const Item& i) { return i.shape->area(); });
  out << "area histogram:\n" << render_histogram(histogram(areas, 5), 24);
}

void print_geometry(std::ostream& out, const Scene& scene) {
  out << "== geometry ==\n";
  out << "bounds       " << to_string(scene.bounds()) << '\n';
  out << "total area   " << fmt_double(scene.total_area()) << '\n';

  std::vector<Vec2> points;
  for (const Item& item : scene.items()) {
    const auto outline = item.shape->outline(kDefaultSegments);
    points.insert(points.end(), outline.begin(), outline.end());
  }
  const std::vector<Vec2> hull = convex_hull(points);
  std::vector<std::string> hull_text;
  for (const Vec2& p : hull | std::views::take(6)) hull_text.push_back(to_string(p));
  out << "hull         " << hull.size() << " vertices, starting " << join(hull_text, " ")
      << " ...\n";
  out << "diameter     " << fmt_double(diameter(points)) << '\n';

  out << "overlaps    ";
  const auto pairs = overlapping_pairs(scene);
  for (const auto& [i, j] : pairs) {
    out << ' ' << scene.items()[i].name << '/' << scene.items()[j].name;
  }
  out << (pairs.empty() ? " none\n" : "\n");

  const Vec2 probes[] = {{0, 0}, {2.5, 1.5}, {-4, 3}, {6, -2}, {10, 10}};
  for (const Vec2& p : probes) {
    const auto hits = scene.hit_test(p);
    out << "hit " << pad_right(to_string(p), 20) << (hits.empty() ? "-" : join(hits, ","))
        << '\n';
  }

  const Transform spin = Transform::rotate_about(kPi / 6.0, scene.bounds().center());
  const Scene rotated = scene.transformed(spin);
  out << "rotated 30deg: bounds " << to_string(rotated.bounds()) << ", area "
      << fmt_double(rotated.total_area()) << '\n';
  const Scene shrunk = scene.transformed(Transform::scale(0.5));
  out << "scaled 0.5:    bounds " << to_string(shrunk.bounds()) << ", area "
      << fmt_double(shrunk.total_area()) << '\n';
}

}  // namespace app
