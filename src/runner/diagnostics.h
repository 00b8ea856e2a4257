// Diagnostics from a worker name files by their sandbox paths (the worker maps the exec root to
// a fresh directory; -ffile-prefix-map fixes objects, not messages). The runner puts the
// exec root back so stderr reads as the local compile's would.
//
// The sandbox directory is not sent back with the result, so it is recognised: a path in the
// text that ends in "/<input path>" for one of the action's inputs (or its object), starts
// with '/', differs from the root and is not the directory of a host file (e.g. "/usr" for
// "/usr/include/x.h" when "include/x.h" is also an input). Every occurrence of that prefix
// (followed by '/' or a delimiter) then becomes the root.
#pragma once

#include <string>
#include <vector>

namespace zbuild::runner {

// The sandbox prefix used in `text`, or empty when none is found.
std::string find_sandbox_prefix(const std::string& text, const std::string& root,
                                const std::vector<std::string>& rel_paths, const std::vector<std::string>& host_paths);

// `text` with every `prefix` (at a path boundary) replaced by `root`.
std::string replace_prefix(const std::string& text, const std::string& prefix, const std::string& root);

}  // namespace zbuild::runner
