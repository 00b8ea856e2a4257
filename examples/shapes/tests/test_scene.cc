// Tests for colours, formatting, statistics, the registry, the parser, scenes and renderers.
#include <algorithm>
#include <string>
#include <vector>

#include "check.h"
#include "shapes/circle.h"
#include "shapes/color.h"
#include "shapes/format.h"
#include "shapes/intersect.h"
#include "shapes/parse.h"
#include "shapes/raster.h"
#include "shapes/rect.h"
#include "shapes/registry.h"
#include "shapes/scene.h"
#include "shapes/stats.h"
#include "shapes/svg.h"
#include "shapes/transform.h"

using namespace shapes;

namespace {

void color_tests() {
  check::begin_suite("color");
  CHECK(parse_color("#ff8000") == (Color{255, 128, 0, 255}));
  CHECK(parse_color("#F80") == (Color{255, 136, 0, 255}));
  CHECK(parse_color("#00000080") == (Color{0, 0, 0, 128}));
  CHECK(parse_color("Gold").has_value());
  CHECK(!parse_color("#12345").has_value());
  CHECK(!parse_color("#gg0000").has_value());
  CHECK(!parse_color("mauve").has_value());
  CHECK(!parse_color("").has_value());
  CHECK_EQ(to_hex({1, 2, 255, 255}), std::string("#0102ff"));
  CHECK_EQ(to_hex({1, 2, 255, 16}), std::string("#0102ff10"));
  const auto names = color_names();
  CHECK(std::ranges::is_sorted(names));
  CHECK_EQ(names.size(), std::size_t{12});
  CHECK(blend({255, 0, 0, 255}, {0, 0, 255, 255}) == (Color{255, 0, 0, 255}));
  CHECK(blend({255, 0, 0, 0}, {0, 0, 255, 255}) == (Color{0, 0, 255, 255}));
  CHECK(blend({255, 0, 0, 128}, {0, 0, 255, 255}) == (Color{128, 0, 127, 255}));
  CHECK(mix({0, 0, 0, 255}, {200, 100, 50, 255}, 0.5) == (Color{100, 50, 25, 255}));
  CHECK_NEAR(luminance({255, 255, 255, 255}), 1.0, 1e-12);
  CHECK_NEAR(luminance({0, 0, 0, 255}), 0.0, 1e-12);
  check::end_suite();
}

void format_tests() {
  check::begin_suite("format");
  CHECK_EQ(fmt_double(3.14159), std::string("3.142"));
  CHECK_EQ(fmt_double(-0.0004), std::string("0.000"));
  CHECK_EQ(fmt_double(-1.5, 1), std::string("-1.5"));
  CHECK_EQ(fmt_double(2.0, 0), std::string("2"));
  CHECK_EQ(pad_left("ab", 4), std::string("  ab"));
  CHECK_EQ(pad_right("abcdef", 4), std::string("abcdef"));
  CHECK_EQ(join({"a", "b", "c"}, "-"), std::string("a-b-c"));
  CHECK_EQ(join({}, "-"), std::string());
  CHECK(split("a,,b", ',') == (std::vector<std::string>{"a", "", "b"}));
  CHECK_EQ(std::string(trim("  x y \t\n")), std::string("x y"));
  Table table({"k", "value"}, {Align::Left, Align::Right});
  table.add_row({"one", "1"});
  table.add_row({"three", "333"});
  CHECK_EQ(table.rows(), std::size_t{2});
  CHECK_EQ(table.render(), std::string("k      value\n------------\none        1\nthree    333\n"));
  CHECK_THROWS(table.add_row({"x"}));
  CHECK_EQ(hex64(fnv1a("")), std::string("cbf29ce484222325"));
  CHECK_EQ(hex64(fnv1a("a")), std::string("af63dc4c8601ec8c"));
  check::end_suite();
}

void stats_tests() {
  check::begin_suite("stats");
  const std::vector<double> v{4, 1, 3, 2, 10};
  const Summary s = summarize(v);
  CHECK_EQ(s.count, std::size_t{5});
  CHECK_EQ(s.min, 1.0);
  CHECK_EQ(s.max, 10.0);
  CHECK_EQ(s.median, 3.0);
  CHECK_EQ(s.mean, 4.0);
  CHECK_NEAR(s.stddev, std::sqrt(10.0), 1e-12);
  CHECK_EQ(summarize(std::vector<double>{1, 2, 3, 4}).median, 2.5);
  CHECK_EQ(summarize(std::vector<double>{}).count, std::size_t{0});
  CHECK_EQ(to_string(s, 1), std::string("n=5 min=1.0 max=10.0 mean=4.0 median=3.0 sd=3.2"));

  struct Sample {
    std::string group;
    int weight;
  };
  const std::vector<Sample> samples{{"b", 2}, {"a", 4}, {"b", 6}};
  CHECK_EQ(summarize_by(samples, &Sample::weight).mean, 4.0);
  const auto counts = count_by(samples, &Sample::group);
  CHECK_EQ(counts.size(), std::size_t{2});
  CHECK_EQ(counts.at("b"), std::size_t{2});
  CHECK_EQ(counts.begin()->first, std::string("a"));

  const Histogram h = histogram(v, 3);
  CHECK(h.bins == (std::vector<std::size_t>{3, 1, 1}));
  CHECK_EQ(render_histogram(h, 4),
           std::string("    1.00 | #### 3\n    4.00 | ## 1\n    7.00 | ## 1\n"));
  CHECK(histogram(std::vector<double>{2, 2}, 2).bins == (std::vector<std::size_t>{2, 0}));
  check::end_suite();
}

void registry_tests() {
  check::begin_suite("registry");
  const Registry& reg = Registry::builtin();
  CHECK(reg.kinds() ==
        (std::vector<std::string>{"circle", "ellipse", "polygon", "rect", "triangle"}));
  CHECK(reg.knows("rect"));
  CHECK(!reg.knows("square"));
  MakeResult made = reg.make("circle", {{"cx", "1"}, {"cy", "2"}, {"r", "3"}});
  CHECK(std::holds_alternative<ShapePtr>(made));
  if (auto* shape = std::get_if<ShapePtr>(&made)) CHECK_EQ((*shape)->kind(), Kind::Circle);
  MakeResult missing = reg.make("rect", {{"x", "1"}});
  CHECK(std::holds_alternative<std::string>(missing));
  if (auto* err = std::get_if<std::string>(&missing)) {
    CHECK_EQ(*err, std::string("missing parameter(s) y, w, h for rect"));
  }
  MakeResult bad = reg.make("circle", {{"cx", "1"}, {"cy", "oops"}, {"r", "3"}});
  CHECK(std::holds_alternative<std::string>(bad));
  MakeResult poly = reg.make("polygon", {{"points", "0,0;2,0;2,2;"}});
  CHECK(std::holds_alternative<ShapePtr>(poly));

  Registry custom;
  custom.add("unit", {}, [](const Params&) -> MakeResult {
    return std::make_unique<Rect>(Vec2{0, 0}, 1, 1);
  });
  CHECK(custom.knows("unit"));
  CHECK(!custom.knows("circle"));
  check::end_suite();
}

void parse_tests() {
  check::begin_suite("parse");
  const ParseResult ok = parse_scene(
      "# leading comment\n"
      "circle name=a cx=0 cy=0 r=1 fill=#ff0000 layer=2   # trailing comment\n"
      "\trect name=b x=-2 y=-2 w=4 h=1\n"
      "\n"
      "move name=b dx=1 dy=0.5\n"
      "ellipse name=c cx=5 cy=5 rx=2 ry=1 angle=90\n");
  CHECK(ok.ok());
  CHECK_EQ(ok.scene.size(), std::size_t{3});
  const Item* a = ok.scene.find("a");
  CHECK(a != nullptr);
  if (a) {
    CHECK_EQ(a->layer, 2);
    CHECK(a->fill == (Color{255, 0, 0, 255}));
  }
  const Item* b = ok.scene.find("b");
  CHECK(b != nullptr);
  if (b) {
    CHECK_EQ(b->shape->kind(), Kind::Rect);
    CHECK(b->shape->bounds() == BBox({-1, -1.5}, {3, -0.5}));
  }
  CHECK_EQ(ok.scene.items()[1].name, std::string("b"));  // move keeps the order

  const ParseResult bad = parse_scene(
      "circle name=a cx=0 cy=0 r=1\n"
      "circle name=a cx=1 cy=1 r=1\n"
      "blob name=z\n"
      "rect x=0 y=0 w=1 h=1\n"
      "rect name=r x=0 y=0 w=1 h=1 layer=top\n"
      "move name=nobody dx=1\n"
      "circle name=q cx cy=0 r=1\n");
  CHECK_EQ(bad.scene.size(), std::size_t{1});
  CHECK_EQ(bad.errors.size(), std::size_t{6});
  if (bad.errors.size() == 6) {
    CHECK_EQ(to_string(bad.errors[0]), std::string("line 2: duplicate name 'a'"));
    CHECK_EQ(to_string(bad.errors[1]), std::string("line 3: unknown shape kind 'blob'"));
    CHECK_EQ(to_string(bad.errors[2]), std::string("line 4: missing name"));
    CHECK_EQ(to_string(bad.errors[3]), std::string("line 5: bad layer 'top'"));
    CHECK_EQ(to_string(bad.errors[4]), std::string("line 6: no item named 'nobody'"));
    CHECK_EQ(to_string(bad.errors[5]), std::string("line 7: expected key=value, got 'cx'"));
  }
  check::end_suite();
}

Scene sample_scene() {
  Scene scene;
  scene.add("base", std::make_unique<Rect>(Vec2{0, 0}, 10, 4), {0, 128, 0, 255}, 0);
  scene.add("disc", std::make_unique<Circle>(Vec2{5, 4}, 2), {255, 0, 0, 255}, 1);
  scene.add("pip", std::make_unique<Circle>(Vec2{9, 9}, 0.5), {0, 0, 255, 255}, 0);
  return scene;
}

void scene_tests() {
  check::begin_suite("scene");
  Scene scene = sample_scene();
  CHECK_EQ(scene.size(), std::size_t{3});
  CHECK(!scene.add("disc", std::make_unique<Circle>(Vec2{0, 0}, 1)));
  CHECK(!scene.add("null", nullptr));
  CHECK(scene.bounds() == BBox({0, 0}, {10, 9.5}));
  CHECK_NEAR(scene.total_area(), 40 + 4 * kPi + 0.25 * kPi, 1e-9);
  CHECK(scene.hit_test({5, 3.5}) == (std::vector<std::string>{"disc", "base"}));
  CHECK(scene.hit_test({9, 9}) == (std::vector<std::string>{"pip"}));
  CHECK(scene.hit_test({-1, -1}).empty());
  const auto order = scene.paint_order();
  CHECK_EQ(order.back()->name, std::string("disc"));
  CHECK_EQ(order.front()->name, std::string("base"));

  const auto pairs = overlapping_pairs(scene);
  CHECK_EQ(pairs.size(), std::size_t{1});
  if (!pairs.empty()) CHECK(pairs[0] == (std::pair<std::size_t, std::size_t>{0, 1}));

  Scene copy = scene;  // deep copy
  CHECK(copy.remove("pip"));
  CHECK(!copy.remove("pip"));
  CHECK_EQ(copy.size(), std::size_t{2});
  CHECK_EQ(scene.size(), std::size_t{3});
  CHECK(copy.items()[1].shape.get() != scene.items()[1].shape.get());

  const Scene moved = scene.transformed(Transform::translate({1, 1}));
  CHECK(moved.bounds() == BBox({1, 1}, {11, 10.5}));
  CHECK_EQ(scene.remove_if([](const Item& i) { return i.layer == 0; }), std::size_t{2});
  CHECK_EQ(scene.size(), std::size_t{1});
  copy.add("aaa", std::make_unique<Rect>(Vec2{0, 0}, 1, 1));
  copy.sort_by_name();
  CHECK_EQ(copy.items().front().name, std::string("aaa"));
  check::end_suite();
}

void render_tests() {
  check::begin_suite("render");
  const Scene scene = sample_scene();
  const std::string svg = to_svg(scene, {.scale = 10, .margin = 0, .precision = 1});
  CHECK(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100.0\" height=\"95.0\">"));
  CHECK(svg.ends_with("</svg>\n"));
  CHECK(svg.find("<rect x=\"0.0\" y=\"55.0\" width=\"100.0\" height=\"40.0\" fill=\"#008000\"") !=
        std::string::npos);
  CHECK(svg.find("<circle cx=\"50.0\" cy=\"55.0\" r=\"20.0\"") != std::string::npos);
  CHECK(svg.find(">disc</text>") != std::string::npos);
  CHECK(svg.find("<circle cx=\"50.0\"") > svg.find("<circle cx=\"90.0\""));  // layer order
  const std::string plain = to_svg(scene, {.include_labels = false});
  CHECK(plain.find("<text") == std::string::npos);
  CHECK_EQ(to_svg(scene), to_svg(Scene(scene)));

  const auto grid = rasterize(scene, {.columns = 20, .rows = 19, .background = ' '});
  CHECK_EQ(grid.size(), std::size_t{19});
  CHECK_EQ(grid.back(), std::string(20, 'b'));
  CHECK_EQ(grid.front(), std::string("                 pp "));
  CHECK_EQ(grid[10][10], 'd');  // disc over base
  CHECK(coverage(grid, ' ') > 0.4 && coverage(grid, ' ') < 0.7);
  CHECK_EQ(coverage(rasterize(Scene{}), '.'), 0.0);
  check::end_suite();
}

}  // namespace

void run_scene_tests() {
  color_tests();
  format_tests();
  stats_tests();
  registry_tests();
  parse_tests();
  scene_tests();
  render_tests();
}
