#include "shapes/color.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <utility>

namespace shapes {
namespace {

constexpr std::array<std::pair<std::string_view, Color>, 12> kNamed{{
    {"black", {0, 0, 0, 255}},
    {"white", {255, 255, 255, 255}},
    {"red", {220, 40, 40, 255}},
    {"green", {40, 160, 70, 255}},
    {"blue", {40, 90, 200, 255}},
    {"gold", {240, 190, 40, 255}},
    {"orange", {245, 130, 30, 255}},
    {"purple", {130, 60, 170, 255}},
    {"teal", {30, 150, 150, 255}},
    {"gray", {128, 128, 128, 255}},
    {"pink", {235, 120, 170, 255}},
    {"transparent", {0, 0, 0, 0}},
}};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::uint8_t clamp_channel(double v) {
  return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

}  // namespace

std::optional<Color> parse_color(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.front() != '#') {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto it = std::find_if(kNamed.begin(), kNamed.end(),
                                 [&](const auto& entry) { return entry.first == lower; });
    if (it == kNamed.end()) return std::nullopt;
    return it->second;
  }
  text.remove_prefix(1);
  std::array<int, 8> digits{};
  if (text.size() != 3 && text.size() != 6 && text.size() != 8) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    digits[i] = hex_digit(text[i]);
    if (digits[i] < 0) return std::nullopt;
  }
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(digits[i] * 16 + digits[i + 1]); };
  if (text.size() == 3) {
    return Color{static_cast<std::uint8_t>(digits[0] * 17), static_cast<std::uint8_t>(digits[1] * 17),
                 static_cast<std::uint8_t>(digits[2] * 17), 255};
  }
  Color c{byte(0), byte(2), byte(4), 255};
  if (text.size() == 8) c.a = byte(6);
  return c;
}

std::string to_hex(Color c) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "#";
  const std::array<std::uint8_t, 4> channels{c.r, c.g, c.b, c.a};
  const std::size_t n = c.a == 255 ? 3 : 4;
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[channels[i] >> 4];
    out += kHex[channels[i] & 15];
  }
  return out;
}

std::vector<std::string_view> color_names() {
  std::vector<std::string_view> names;
  for (const auto& entry : kNamed) names.push_back(entry.first);
  std::sort(names.begin(), names.end());
  return names;
}

Color blend(Color over, Color under) {
  const double ao = over.a / 255.0;
  const double au = under.a / 255.0;
  const double out_a = ao + au * (1.0 - ao);
  if (out_a <= 0.0) return {0, 0, 0, 0};
  auto channel = [&](std::uint8_t co, std::uint8_t cu) {
    return clamp_channel((co * ao + cu * au * (1.0 - ao)) / out_a);
  };
  return {channel(over.r, under.r), channel(over.g, under.g), channel(over.b, under.b),
          clamp_channel(out_a * 255.0)};
}

Color mix(Color a, Color b, double t) {
  auto channel = [t](std::uint8_t x, std::uint8_t y) { return clamp_channel(x + (y - x) * t); };
  return {channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b), channel(a.a, b.a)};
}

double luminance(Color c) {
  auto linear = [](std::uint8_t v) {
    const double s = v / 255.0;
    return s <= 0.04045 ? s / 12.92 : std::pow((s + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * linear(c.r) + 0.7152 * linear(c.g) + 0.0722 * linear(c.b);
}

}  // namespace shapes
