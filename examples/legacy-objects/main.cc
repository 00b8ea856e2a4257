// Legacy-objects example program: greets a few names, then counts their letters.
#include <iostream>

#include "greet.h"

int main() {
  const std::vector<std::string_view> names{"daemon", "worker", "client"};
  for (const auto& line : greet::greetings(names)) std::cout << line << '\n';
  std::cout << names.size() << " names, " << greet::letters(names) << " letters\n";
  return 0;
}
