// Small text utilities shared by the legacy example's translation units.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace legacy {

// Lower-cased words of `text` (letters and apostrophes only).
std::vector<std::string> words(const std::string& text);

// (word, count) pairs, most frequent first, ties broken alphabetically.
std::vector<std::pair<std::string, std::size_t>> top_words(const std::vector<std::string>& words,
                                                          std::size_t limit);

// The built-in sample text (defined in corpus.cc).
const std::string& sample_text();

// Number of lines in the sample text.
std::size_t line_count(const std::string& text);

}  // namespace legacy
