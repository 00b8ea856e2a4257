#include <cstdio>

#include "geo/format.h"
#include "geo/registry.h"

int main() {
  geo::Registry r;
  r.add("square", geo::Polygon({{0, 0}, {2, 0}, {2, 2}, {0, 2}}));
  r.add("triangle", geo::Polygon({{0, 0}, {4, 0}, {0, 3}}));
  std::printf("%s\n", geo::version_string().c_str());
  for (const char* n : {"square", "triangle"}) std::printf("%s: %s\n", n, geo::describe(*r.find(n)).c_str());
  std::printf("fingerprint %08x\n", r.fingerprint());
  return 0;
}
