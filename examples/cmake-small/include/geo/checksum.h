#ifndef GEO_CHECKSUM_H
#define GEO_CHECKSUM_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
uint32_t geo_crc32(const void* data, size_t n);
uint32_t geo_adler32(const void* data, size_t n);
#ifdef __cplusplus
}
#endif
#endif
