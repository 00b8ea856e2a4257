#include <stdlib.h>

#include "config.h"
#include "stats.h"

size_t stats_parse(const char* text, double* out, size_t max) {
  size_t n = 0;
  char* end = NULL;
  while (n < max) {
    double d = strtod(text, &end);
    if (end == text) break;
    out[n++] = d;
    text = end;
  }
  return n;
}
