#include <cstdio>
#include <string>

#include "stats.h"

std::string report(double* v, size_t n);

int main() {
  double v[16];
  size_t n = stats_parse("3 1 4 1 5 9 2 6 5 3", v, 16);
  std::printf("%s\n", report(v, n).c_str());
  return 0;
}
