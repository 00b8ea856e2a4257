// Deterministic text formatting helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shapes {

// Fixed-point formatting; never prints "-0.000".
std::string fmt_double(double value, int precision = 3);
std::string pad_left(std::string_view text, std::size_t width);
std::string pad_right(std::string_view text, std::size_t width);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::vector<std::string> split(std::string_view text, char sep);
std::string_view trim(std::string_view text);

enum class Align { Left, Right };

// A plain-text table with aligned columns.
class Table {
 public:
  explicit Table(std::vector<std::string> header, std::vector<Align> align = {});
  void add_row(std::vector<std::string> row);
  std::size_t rows() const { return rows_.size(); }
  std::string render() const;

 private:
  std::vector<std::string> header_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

// 64-bit FNV-1a; used to summarise long outputs deterministically.
std::uint64_t fnv1a(std::string_view data);
std::string hex64(std::uint64_t value);

}  // namespace shapes
