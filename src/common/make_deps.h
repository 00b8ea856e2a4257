// Make-rule dependency text, as `cc -M` prints it and `-MD` depfiles hold it: the one parser,
// shared by the client's header scan (client/headers) and zbuild-cc's depfiles (runner/cmdline).
#pragma once

#include <string>
#include <vector>

namespace zbuild {

// Parses make-rule dependency output ("t.o: a.cc b.h \\\n c.h"); returns the prerequisites.
// Backslash-newline continues a line; "\ ", "\#", "\\" and "$$" are unescaped.
std::vector<std::string> parse_make_deps(const std::string& text);

}  // namespace zbuild
