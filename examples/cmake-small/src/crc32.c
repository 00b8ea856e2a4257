#include "geo/checksum.h"

uint32_t geo_crc32(const void* data, size_t n) {
  const unsigned char* p = (const unsigned char*)data;
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}
