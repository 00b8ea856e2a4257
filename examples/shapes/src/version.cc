#include "shapes/version.h"

#include <sstream>

namespace shapes {

std::string version_string() {
  std::ostringstream out;
  out << kVersionMajor << '.' << kVersionMinor << '.' << kVersionPatch << " (" << kCodename
      << ")";
  return out.str();
}

}  // namespace shapes
