#include "shapes/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "shapes/format.h"

namespace shapes {

Summary summarize(std::span<const double> values) {
  Summary s;
  s.count = values.size();
  if (values.empty()) return s;
  std::vector<double> sorted(values.begin(), values.end());
  std::ranges::sort(sorted);
  s.min = sorted.front();
  s.max = sorted.back();
  s.sum = std::accumulate(sorted.begin(), sorted.end(), 0.0);
  s.mean = s.sum / static_cast<double>(s.count);
  const std::size_t mid = s.count / 2;
  s.median = s.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2.0;
  double sq = 0.0;
  for (double v : sorted) sq += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(sq / static_cast<double>(s.count));
  return s;
}

std::string to_string(const Summary& s, int precision) {
  std::vector<std::string> parts{
      "n=" + std::to_string(s.count),        "min=" + fmt_double(s.min, precision),
      "max=" + fmt_double(s.max, precision), "mean=" + fmt_double(s.mean, precision),
      "median=" + fmt_double(s.median, precision), "sd=" + fmt_double(s.stddev, precision),
  };
  return join(parts, " ");
}

Histogram histogram(std::span<const double> values, std::size_t bins) {
  Histogram h;
  if (bins == 0) return h;
  h.bins.assign(bins, 0);
  if (values.empty()) return h;
  const auto [lo, hi] = std::ranges::minmax(values);
  h.lo = lo;
  h.hi = hi;
  const double width = (hi - lo) / static_cast<double>(bins);
  for (double v : values) {
    std::size_t index = width > 0 ? static_cast<std::size_t>((v - lo) / width) : 0;
    h.bins[std::min(index, bins - 1)]++;
  }
  return h;
}

std::string render_histogram(const Histogram& h, std::size_t bar_width) {
  std::string out;
  if (h.bins.empty()) return out;
  const std::size_t peak = *std::ranges::max_element(h.bins);
  const double step = (h.hi - h.lo) / static_cast<double>(h.bins.size());
  for (std::size_t i = 0; i < h.bins.size(); ++i) {
    const double from = h.lo + step * static_cast<double>(i);
    const std::size_t bar = peak == 0 ? 0 : (h.bins[i] * bar_width + peak - 1) / peak;
    out += pad_left(fmt_double(from, 2), 8);
    out += " | ";
    out.append(bar, '#');
    out += ' ';
    out += std::to_string(h.bins[i]);
    out += '\n';
  }
  return out;
}

}  // namespace shapes
