// Make-rule dependency text, as `cc -M` prints it and `-MD` depfiles hold it: the one parser,
// shared by the client's header scan (client/headers) and zbuild-cc's depfiles (runner/cmdline).
#pragma once

#include <string>
#include <vector>

namespace zbuild {

// Parses make-rule dependency output ("t.o: a.cc b.h \\\n c.h"); returns the prerequisites.
// Backslash-newline continues a line; "\ ", "\#", "\\" and "$$" are unescaped.
std::vector<std::string> parse_make_deps(const std::string& text);

// A path quoted for a make rule as gcc quotes it ("\ " for a space, "\#", "$$").
std::string make_quote(const std::string& path);

// The rule gcc's -M writes: `targets` (already quoted as wanted: -MT as given, -MQ quoted),
// then the prerequisites (quoted here), lines continued with " \\" near 76 columns; with
// `phony` (-MP) an empty rule for each prerequisite but the first.
std::string make_deps_rule(const std::vector<std::string>& targets, const std::vector<std::string>& prereqs, bool phony);

}  // namespace zbuild
