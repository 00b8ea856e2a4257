// Runs every test suite; exits 0 only if all checks pass.
#include <cmath>
#include <iostream>

#include "check.h"

void run_geometry_tests();
void run_scene_tests();

namespace check {
namespace {

int g_total = 0;
int g_failed = 0;
int g_suite_total = 0;
int g_suite_failed = 0;
const char* g_suite = "";

}  // namespace

void record(bool ok, const char* expr, const char* file, int line, const std::string& detail) {
  ++g_total;
  ++g_suite_total;
  if (ok) return;
  ++g_failed;
  ++g_suite_failed;
  std::cout << "FAIL " << file << ':' << line << ": " << expr;
  if (!detail.empty()) std::cout << " (" << detail << ')';
  std::cout << '\n';
}

void expect_near(double a, double b, double eps, const char* expr, const char* file, int line) {
  const bool ok = std::fabs(a - b) <= eps;
  record(ok, expr, file, line, ok ? std::string() : "got " + show(a) + ", expected " + show(b));
}

void begin_suite(const char* name) {
  g_suite = name;
  g_suite_total = 0;
  g_suite_failed = 0;
}

void end_suite() {
  std::cout << (g_suite_failed == 0 ? "ok   " : "FAIL ") << g_suite << ": " << g_suite_total
            << " checks, " << g_suite_failed << " failed\n";
}

int failures() { return g_failed; }
int total() { return g_total; }

}  // namespace check

int main() {
  run_geometry_tests();
  run_scene_tests();
  if (check::failures() != 0) {
    std::cout << check::failures() << " of " << check::total() << " checks FAILED\n";
    return 1;
  }
  std::cout << "all " << check::total() << " checks passed\n";
  return 0;
}
