#ifndef STATS_H
#define STATS_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif
double stats_mean(const double* v, size_t n);
double stats_median(double* v, size_t n);
void stats_histogram(const double* v, size_t n, double lo, double hi, unsigned* bins, size_t nbins);
size_t stats_parse(const char* text, double* out, size_t max);
#ifdef __cplusplus
}
#endif
#endif
