#include <string.h>

#include "stats.h"

void stats_histogram(const double* v, size_t n, double lo, double hi, unsigned* bins, size_t nbins) {
  memset(bins, 0, nbins * sizeof *bins);
  for (size_t i = 0; i < n; ++i) {
    if (v[i] < lo || v[i] >= hi) continue;
    bins[(size_t)((v[i] - lo) / (hi - lo) * (double)nbins)]++;
  }
}
