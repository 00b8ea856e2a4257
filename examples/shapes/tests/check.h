// Minimal self-checking helpers for shapes_tests (no framework).
#pragma once

#include <concepts>
#include <cstdlib>
#include <ostream>
#include <sstream>
#include <string>

namespace check {

void record(bool ok, const char* expr, const char* file, int line, const std::string& detail);
void begin_suite(const char* name);
void end_suite();
int failures();
int total();

template <typename T>
std::string show(const T& value) {
  if constexpr (requires(std::ostream& os, const T& v) { os << v; }) {
    std::ostringstream out;
    out << value;
    return out.str();
  } else {
    return "<unprintable>";
  }
}

template <typename A, typename B>
void expect_eq(const A& a, const B& b, const char* expr, const char* file, int line) {
  const bool ok = a == b;
  record(ok, expr, file, line, ok ? std::string() : "got " + show(a) + ", expected " + show(b));
}

void expect_near(double a, double b, double eps, const char* expr, const char* file, int line);

}  // namespace check

#define CHECK(...) \
  ::check::record(static_cast<bool>(__VA_ARGS__), #__VA_ARGS__, __FILE__, __LINE__, "")
#define CHECK_EQ(a, b) ::check::expect_eq((a), (b), #a " == " #b, __FILE__, __LINE__)
#define CHECK_NEAR(a, b, eps) \
  ::check::expect_near((a), (b), (eps), #a " ~= " #b, __FILE__, __LINE__)
#define CHECK_THROWS(expr)                                                                   \
  do {                                                                                        \
    bool threw_ = false;                                                                      \
    try {                                                                                     \
      (void)(expr);                                                                           \
    } catch (...) {                                                                           \
      threw_ = true;                                                                          \
    }                                                                                         \
    ::check::record(threw_, #expr " throws", __FILE__, __LINE__, "no exception");             \
  } while (false)
