#include "stats.h"

double stats_mean(const double* v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += v[i];
  return n ? s / (double)n : 0;
}
