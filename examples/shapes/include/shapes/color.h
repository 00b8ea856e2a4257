// RGBA colours with parsing and blending.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shapes {

struct Color {
  std::uint8_t r = 0;
  std::uint8_t g = 0;
  std::uint8_t b = 0;
  std::uint8_t a = 255;

  bool operator==(const Color&) const = default;
};

// Accepts "#rgb", "#rrggbb", "#rrggbbaa" and the names listed by color_names().
std::optional<Color> parse_color(std::string_view text);
std::string to_hex(Color c);
std::vector<std::string_view> color_names();
Color blend(Color over, Color under);  // "over" compositing
Color mix(Color a, Color b, double t);
double luminance(Color c);

}  // namespace shapes
