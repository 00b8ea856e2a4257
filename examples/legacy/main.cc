// Legacy example program: word statistics over a built-in text.
#include <iostream>

#include "util.h"

int main() {
  const std::string& text = legacy::sample_text();
  const auto all = legacy::words(text);
  std::cout << "legacy example: " << legacy::line_count(text) << " lines, " << all.size()
            << " words\n";
  for (const auto& [word, count] : legacy::top_words(all, 5)) {
    std::cout << "  " << word << ' ' << count << '\n';
  }
  return 0;
}
