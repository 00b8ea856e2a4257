// Tests for vectors, boxes, transforms, the concrete shapes, hulls and intersections.
#include <cmath>
#include <memory>
#include <vector>

#include "check.h"
#include "shapes/bbox.h"
#include "shapes/circle.h"
#include "shapes/ellipse.h"
#include "shapes/hull.h"
#include "shapes/intersect.h"
#include "shapes/polygon.h"
#include "shapes/rect.h"
#include "shapes/transform.h"
#include "shapes/triangle.h"
#include "shapes/vec.h"

using namespace shapes;

namespace {

void vec_tests() {
  check::begin_suite("vec");
  constexpr Vec2 a{3, 4};
  static_assert(dot(a, a) == 25.0);
  static_assert((a + Vec2{1, 1}) == Vec2{4, 5});
  CHECK_NEAR(length(a), 5.0, 1e-12);
  CHECK_NEAR(distance({1, 1}, {4, 5}), 5.0, 1e-12);
  CHECK(approx_equal(normalized(a), Vec2{0.6, 0.8}));
  CHECK(approx_equal(normalized(Vec2{}), Vec2{}));
  CHECK(approx_equal(rotate({1, 0}, kPi / 2), Vec2{0, 1}));
  CHECK_EQ(perpendicular({2, 1}), (Vec2{-1, 2}));
  CHECK_NEAR(angle_of({-1, 0}), kPi, 1e-12);
  CHECK_EQ(cross(Vec2{1, 0}, Vec2{0, 1}), 1.0);
  CHECK_EQ(orientation({0, 0}, {1, 0}, {1, 1}), 1);
  CHECK_EQ(orientation({0, 0}, {1, 0}, {1, -1}), -1);
  CHECK_EQ(orientation({0, 0}, {1, 1}, {2, 2}), 0);
  CHECK(approx_equal(lerp(Vec2{0, 0}, Vec2{10, -10}, 0.25), Vec2{2.5, -2.5}));
  CHECK(Vec2{1, 2} < Vec2{1, 3});
  CHECK_EQ(to_string(Vec2{-0.0001, 2}), std::string("(0.000, 2.000)"));
  check::end_suite();
}

void bbox_tests() {
  check::begin_suite("bbox");
  BBox box;
  CHECK(box.empty());
  CHECK_EQ(box.area(), 0.0);
  box.expand({1, 2});
  CHECK(!box.empty());
  box.expand({-1, 5});
  CHECK_EQ(box.min(), (Vec2{-1, 2}));
  CHECK_EQ(box.max(), (Vec2{1, 5}));
  CHECK_EQ(box.area(), 6.0);
  CHECK(box.contains({0, 3}));
  CHECK(!box.contains({0, 6}));
  const BBox other({0, 4}, {3, 9});
  CHECK(box.overlaps(other));
  CHECK_EQ(box.intersection(other), BBox({0, 4}, {1, 5}));
  CHECK(!box.overlaps(BBox({2, 0}, {3, 1})));
  CHECK(box.intersection(BBox({2, 0}, {3, 1})).empty());
  CHECK_EQ(box.inflated(1).width(), 4.0);
  const std::vector<Vec2> pts{{0, 0}, {4, -1}, {2, 3}};
  CHECK_EQ(BBox::of_points(pts), BBox({0, -1}, {4, 3}));
  CHECK_EQ(to_string(BBox{}), std::string("[empty]"));
  check::end_suite();
}

void transform_tests() {
  check::begin_suite("transform");
  const Transform t = Transform::translate({2, 3});
  CHECK_EQ(t.apply({1, 1}), (Vec2{3, 4}));
  CHECK_EQ(t.apply_vector({1, 1}), (Vec2{1, 1}));
  const Transform r = Transform::rotate(kPi / 2);
  CHECK(approx_equal(r.apply({1, 0}), Vec2{0, 1}));
  const Transform tr = r.then(t);  // rotate, then translate
  CHECK(approx_equal(tr.apply({1, 0}), Vec2{2, 4}));
  CHECK(approx_equal((t * r).apply({1, 0}), Vec2{2, 4}));
  const auto inv = tr.inverse();
  CHECK(inv.has_value());
  if (inv) CHECK(approx_equal(inv->apply(tr.apply({5, -7})), Vec2{5, -7}));
  CHECK(!Transform::scale(0, 1).inverse().has_value());
  CHECK(Transform::identity().is_identity());
  CHECK(tr.is_similarity());
  CHECK(!Transform::scale(2, 1).is_similarity());
  CHECK(Transform::scale(2, 1).is_axis_aligned());
  CHECK(!Transform::scale(-1, 1).is_similarity());
  CHECK_NEAR(Transform::scale(3).uniform_scale(), 3.0, 1e-12);
  CHECK_NEAR(Transform::rotate(0.3).rotation_angle(), 0.3, 1e-12);
  const Transform about = Transform::rotate_about(kPi, {1, 1});
  CHECK(approx_equal(about.apply({2, 1}), Vec2{0, 1}));
  CHECK_EQ(Transform::identity().to_string(),
           std::string("matrix(1.0000 0.0000 0.0000 1.0000 0.0000 0.0000)"));
  check::end_suite();
}

void shape_tests() {
  check::begin_suite("shapes");
  const Circle c({1, 1}, 2);
  CHECK_NEAR(c.area(), 4 * kPi, 1e-12);
  CHECK_NEAR(c.perimeter(), 4 * kPi, 1e-12);
  CHECK_EQ(c.bounds(), BBox({-1, -1}, {3, 3}));
  CHECK(c.contains({2, 2}));
  CHECK(!c.contains({3, 3}));
  CHECK_EQ(c.outline(16).size(), std::size_t{16});
  CHECK_NEAR(signed_area(c.outline(720)), c.area(), 1e-3);
  CHECK(c.is_convex());
  CHECK_THROWS(Circle({0, 0}, 0));

  auto moved = c.transformed(Transform::rotate(1.0).then(Transform::scale(2)));
  CHECK_EQ(moved->kind(), Kind::Circle);
  CHECK_NEAR(moved->area(), 16 * kPi, 1e-9);
  auto stretched = c.transformed(Transform::scale(2, 1));
  CHECK_EQ(stretched->kind(), Kind::Ellipse);
  CHECK_NEAR(stretched->area(), 8 * kPi, 1e-9);
  auto sheared = c.transformed(Transform(1, 0, 1, 1, 0, 0));
  CHECK_EQ(sheared->kind(), Kind::Polygon);
  CHECK_NEAR(sheared->area(), c.transformed(Transform::identity())->area(), 0.1);

  const Rect r({0, 0}, 4, 2);
  CHECK_EQ(r.area(), 8.0);
  CHECK_EQ(r.perimeter(), 12.0);
  CHECK_EQ(r.centroid(), (Vec2{2, 1}));
  CHECK(r.contains({4, 2}));
  CHECK(!r.contains({4.01, 2}));
  CHECK_EQ(Rect::from_corners({3, 3}, {1, 0}).area(), 6.0);
  CHECK_EQ(r.transformed(Transform::translate({1, 1}))->kind(), Kind::Rect);
  auto spun = r.transformed(Transform::rotate(kPi / 4));
  CHECK_EQ(spun->kind(), Kind::Polygon);
  CHECK_NEAR(spun->area(), 8.0, 1e-9);
  CHECK_THROWS(Rect({0, 0}, 1, 0));

  const Triangle t({0, 0}, {0, 3}, {4, 0});  // clockwise input gets reordered
  CHECK(t.signed_area() > 0);
  CHECK_EQ(t.area(), 6.0);
  CHECK_EQ(t.perimeter(), 12.0);
  CHECK(t.is_right());
  CHECK(approx_equal(t.circumcenter(), Vec2{2, 1.5}));
  CHECK(approx_equal(t.centroid(), Vec2{4.0 / 3.0, 1.0}));
  CHECK(t.contains({1, 1}));
  CHECK(t.contains({2, 0}));
  CHECK(!t.contains({3, 3}));
  const auto angles = t.angles();
  CHECK_NEAR(angles[0] + angles[1] + angles[2], kPi, 1e-12);
  CHECK_THROWS(Triangle({0, 0}, {1, 1}, {2, 2}));

  const Ellipse e({0, 0}, 3, 1, kPi / 2);
  CHECK_NEAR(e.area(), 3 * kPi, 1e-12);
  CHECK(approx_equal(e.bounds().max(), Vec2{1, 3}));
  CHECK(e.contains({0, 2.9}));
  CHECK(!e.contains({2.9, 0}));
  CHECK_NEAR(Ellipse({0, 0}, 2, 2).perimeter(), 4 * kPi, 1e-9);
  CHECK_NEAR(e.eccentricity(), std::sqrt(8.0) / 3.0, 1e-12);
  CHECK_NEAR(signed_area(e.outline(2000)), e.area(), 1e-3);
  CHECK_NEAR(ring_perimeter(e.outline(4000)), e.perimeter(), 1e-3);
  CHECK_EQ(e.transformed(Transform::rotate(0.2))->kind(), Kind::Ellipse);
  check::end_suite();
}

void polygon_tests() {
  check::begin_suite("polygon");
  // An L shape given clockwise, with a repeated closing vertex.
  const Polygon l({{0, 0}, {0, 3}, {1, 3}, {1, 1}, {3, 1}, {3, 0}, {0, 0}});
  CHECK_EQ(l.size(), std::size_t{6});
  CHECK(signed_area(l.vertices()) > 0);
  CHECK_EQ(l.area(), 5.0);
  CHECK_EQ(l.perimeter(), 12.0);
  CHECK(l.contains({0.5, 2.5}));
  CHECK(l.contains({2.5, 0.5}));
  CHECK(!l.contains({2, 2}));
  CHECK(l.contains({1, 2}));  // on the boundary
  CHECK(!l.is_convex());
  const Vec2 cen = l.centroid();
  CHECK_NEAR(cen.x, 1.1, 1e-12);
  CHECK_NEAR(cen.y, 1.1, 1e-12);
  CHECK(Polygon({{0, 0}, {2, 0}, {2, 2}, {0, 2}}).is_convex());
  CHECK_THROWS(Polygon({{0, 0}, {1, 1}}));
  CHECK_THROWS(Polygon({{0, 0}, {1, 1}, {2, 2}}));
  auto doubled = l.transformed(Transform::scale(2));
  CHECK_NEAR(doubled->area(), 20.0, 1e-9);
  check::end_suite();
}

void hull_tests() {
  check::begin_suite("hull");
  std::vector<Vec2> pts;
  for (int x = 0; x <= 4; ++x) {
    for (int y = 0; y <= 3; ++y) pts.push_back({double(x), double(y)});
  }
  pts.push_back({2, 5});
  const std::vector<Vec2> hull = convex_hull(pts);
  const std::vector<Vec2> expected{{0, 0}, {4, 0}, {4, 3}, {2, 5}, {0, 3}};
  CHECK_EQ(hull.size(), expected.size());
  CHECK(hull == expected);
  CHECK_NEAR(signed_area(hull), 16.0, 1e-12);
  CHECK_NEAR(diameter(pts), std::sqrt(29.0), 1e-12);
  CHECK(convex_hull(std::vector<Vec2>{{1, 1}, {1, 1}}).size() == 1);
  CHECK_NEAR(diameter(Circle({0, 0}, 1).outline(64)), 2.0, 1e-12);
  check::end_suite();
}

void intersect_tests() {
  check::begin_suite("intersect");
  const Segment s{{0, 0}, {4, 4}};
  const Segment t{{0, 4}, {4, 0}};
  CHECK(segments_intersect(s, t));
  const auto p = segment_intersection(s, t);
  CHECK(p.has_value());
  if (p) CHECK(approx_equal(*p, Vec2{2, 2}));
  CHECK(!segments_intersect(s, {{5, 5}, {6, 7}}));
  CHECK(segments_intersect(s, {{4, 4}, {6, 7}}));  // touching end points
  CHECK(segments_intersect(s, {{2, 2}, {6, 6}}));  // collinear overlap
  CHECK(!segment_intersection(s, {{1, 0}, {5, 4}}).has_value());
  CHECK_NEAR(distance_to_segment({0, 2}, {{-1, 0}, {1, 0}}), 2.0, 1e-12);
  CHECK_NEAR(distance_to_segment({3, 0}, {{-1, 0}, {1, 0}}), 2.0, 1e-12);

  const Circle a({0, 0}, 1);
  const Circle b({1.5, 0}, 1);
  const Circle far({5, 5}, 1);
  const Rect around({-3, -3}, 6, 6);
  CHECK(overlaps(a, b));
  CHECK(!overlaps(a, far));
  CHECK(overlaps(a, around));  // containment counts
  CHECK(overlaps(Triangle({-2, 0}, {2, 0}, {0, 0.5}), Rect({-0.1, -2}, 0.2, 4)));
  check::end_suite();
}

}  // namespace

void run_geometry_tests() {
  vec_tests();
  bbox_tests();
  transform_tests();
  shape_tests();
  polygon_tests();
  hull_tests();
  intersect_tests();
}
