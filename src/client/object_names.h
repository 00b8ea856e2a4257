// One compile for one source built into two objects, in `zbuild submit` (docs/graph-format.md,
// "One source, two objects"). A C/C++ compile whose only declared output is its object runs
// with the object named after its command (-o replaced, the root as a placeholder, and its
// working folder) instead of after the object: a source built into two libraries with the same
// flags (libwebp compiles 30 of its 138 sources twice) is then one action, run once and the
// second time a cache hit or the first one's follower, as ccache keys it and zbuild-cc does
// (runner/cmdline.h, Compile::remote_argv_as). The client writes the object where the task
// declares it; a task reading it names it as its producer's action wrote it (produced_as).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proto/action.h"

namespace zbuild::client {

// For the compile `a` (argv as it will run, cwd relative to a.root) whose one declared output
// is `declared`: the path, relative to the root, its action writes the object under instead,
// with a.argv and a.outputs rewritten for it; nullopt (and `a` unchanged) when the compile is
// not one to rename: not a C/C++ compile to an object, a response file, an option that runs
// locally or names files after the object (runner::analyze), -o naming another file than
// `declared`, the object recording its command line, or the new name one of `taken` (a path
// the graph reads or writes).
std::optional<std::string> name_object_by_command(ActionSpec& a, const std::string& declared,
                                                  const std::set<std::string>& taken);

// Points every input that one of `actions` reads from a renamed producer (object_as[producer - 1]
// not empty) at that name.
void name_produced_inputs(std::vector<ActionSpec>& actions, const std::vector<std::string>& object_as);

}  // namespace zbuild::client
