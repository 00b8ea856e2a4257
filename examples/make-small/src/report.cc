#include <iomanip>
#include <sstream>
#include <string>

#include "config.h"
#include "stats.h"

std::string report(double* v, size_t n) {
  std::ostringstream out;
  out << STATS_NAME << ": n=" << n << std::fixed << std::setprecision(STATS_PRECISION) << " mean=" << stats_mean(v, n)
      << " median=" << stats_median(v, n);
  unsigned bins[4];
  stats_histogram(v, n, 0, 8, bins, 4);
  out << " bins=" << bins[0] << "," << bins[1] << "," << bins[2] << "," << bins[3];
  return out.str();
}
