// Text report sections printed by the `shapes` program.
#pragma once

#include <ostream>

#include "shapes/scene.h"

namespace app {

void print_inventory(std::ostream& out, const shapes::Scene& scene);
void print_statistics(std::ostream& out, const shapes::Scene& scene);
void print_geometry(std::ostream& out, const shapes::Scene& scene);

}  // namespace app
