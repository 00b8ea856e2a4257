#include <stdio.h>
#include <string.h>

#include "geo/checksum.h"

int main(void) {
  const char* s = "123456789";
  int ok = geo_crc32(s, strlen(s)) == 0xcbf43926u && geo_adler32(s, strlen(s)) == 0x091e01deu;
  printf("selftest %s\n", ok ? "passed" : "FAILED");
  return ok ? 0 : 1;
}
