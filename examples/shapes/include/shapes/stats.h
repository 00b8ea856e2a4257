// Descriptive statistics over numeric ranges.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <functional>
#include <map>
#include <ranges>
#include <span>
#include <string>
#include <vector>

namespace shapes {

struct Summary {
  std::size_t count = 0;
  double min = 0;
  double max = 0;
  double mean = 0;
  double median = 0;
  double stddev = 0;  // population standard deviation
  double sum = 0;
};

Summary summarize(std::span<const double> values);
std::string to_string(const Summary& s, int precision = 3);

// Summarise projection(x) over any input range.
template <std::ranges::input_range R, typename Proj>
  requires std::convertible_to<std::invoke_result_t<Proj&, std::ranges::range_reference_t<R>>,
                               double>
Summary summarize_by(R&& range, Proj proj) {
  std::vector<double> values;
  for (auto&& element : range) values.push_back(static_cast<double>(std::invoke(proj, element)));
  return summarize(values);
}

// Counts per key, ordered by key.
template <std::ranges::input_range R, typename KeyFn>
auto count_by(R&& range, KeyFn key) {
  using Key = std::remove_cvref_t<std::invoke_result_t<KeyFn&, std::ranges::range_reference_t<R>>>;
  std::map<Key, std::size_t> counts;
  for (auto&& element : range) ++counts[std::invoke(key, element)];
  return counts;
}

struct Histogram {
  double lo = 0;
  double hi = 0;
  std::vector<std::size_t> bins;
};

Histogram histogram(std::span<const double> values, std::size_t bins);
std::string render_histogram(const Histogram& h, std::size_t bar_width = 20);

}  // namespace shapes
