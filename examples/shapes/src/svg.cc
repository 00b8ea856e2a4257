#include "shapes/svg.h"

#include <sstream>

#include "shapes/circle.h"
#include "shapes/ellipse.h"
#include "shapes/format.h"
#include "shapes/rect.h"

namespace shapes {
namespace {

class SvgWriter {
 public:
  SvgWriter(const BBox& view, const SvgOptions& options) : view_(view), opt_(options) {}

  std::string num(double v) const { return fmt_double(v, opt_.precision); }
  double px(double units) const { return units * opt_.scale; }
  double sx(double x) const { return px(x - view_.min().x); }
  double sy(double y) const { return px(view_.max().y - y); }  // flip: y grows downwards

  void begin() {
    out_ << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(px(view_.width()))
         << "\" height=\"" << num(px(view_.height())) << "\">\n";
  }

  void item(const Item& item) {
    const std::string style = " fill=\"" + to_hex(item.fill) + "\" stroke=\"#000000\"";
    const Shape& shape = *item.shape;
    if (const auto* c = dynamic_cast<const Circle*>(&shape)) {
      out_ << "  <circle cx=\"" << num(sx(c->center().x)) << "\" cy=\"" << num(sy(c->center().y))
           << "\" r=\"" << num(px(c->radius())) << "\"" << style << "/>\n";
    } else if (const auto* r = dynamic_cast<const Rect*>(&shape)) {
      out_ << "  <rect x=\"" << num(sx(r->origin().x)) << "\" y=\""
           << num(sy(r->origin().y + r->height())) << "\" width=\"" << num(px(r->width()))
           << "\" height=\"" << num(px(r->height())) << "\"" << style << "/>\n";
    } else if (const auto* e = dynamic_cast<const Ellipse*>(&shape)) {
      const double degrees = -e->rotation() * 180.0 / kPi;
      out_ << "  <ellipse cx=\"" << num(sx(e->center().x)) << "\" cy=\""
           << num(sy(e->center().y)) << "\" rx=\"" << num(px(e->rx())) << "\" ry=\""
           << num(px(e->ry())) << "\" transform=\"rotate(" << num(degrees) << ' '
           << num(sx(e->center().x)) << ' ' << num(sy(e->center().y)) << ")\"" << style
           << "/>\n";
    } else {
      out_ << "  <polygon points=\"";
      bool first = true;
      for (const Vec2& p : shape.outline(kDefaultSegments)) {
        if (!first) out_ << ' ';
        first = false;
        out_ << num(sx(p.x)) << ',' << num(sy(p.y));
      }
      out_ << "\"" << style << "/>\n";
    }
    if (opt_.include_labels) {
      const Vec2 c = shape.centroid();
      out_ << "  <text x=\"" << num(sx(c.x)) << "\" y=\"" << num(sy(c.y))
           << "\" text-anchor=\"middle\">" << item.name << "</text>\n";
    }
  }

  std::string finish() {
    out_ << "</svg>\n";
    return out_.str();
  }

 private:
  BBox view_;
  const SvgOptions& opt_;
  std::ostringstream out_;
};

}  // namespace

std::string to_svg(const Scene& scene, const SvgOptions& options) {
  BBox view = scene.bounds();
  if (view.empty()) view = BBox({0, 0}, {1, 1});
  SvgWriter writer(view.inflated(options.margin), options);
  writer.begin();
  for (const Item* item : scene.paint_order()) writer.item(*item);
  return writer.finish();
}

}  // namespace shapes
