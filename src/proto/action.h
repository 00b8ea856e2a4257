// The action model (schemas/README.md, "Action key"): what a task *is*. Client, daemon and worker share this struct;
// proto/wire_action.cc converts it to and from the FlatBuffers Action table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/digest.h"

namespace zbuild {

struct InputSpec {
  std::string path;        // relative to the exec root
  Digest digest;
  bool executable = false;
  uint32_t producer = 0;   // 1-based index of the producing task in its build; 0 = source
  // The producer's output this file is when its action writes it under another name (a compile
  // whose object is named after its command, client/submit.cc); empty: `path`. Not in the key.
  std::string produced_as = {};
};

struct HostFileSpec {
  std::string path;        // absolute, outside the exec root
  Digest digest;
};

struct OutputSpec {
  std::string path;
  Digest digest;
  bool executable = false;
};

struct ActionSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;       // "NAME=value", sorted by the client
  std::string cwd = ".";
  std::vector<InputSpec> inputs;      // sorted by path
  std::vector<std::string> outputs;
  std::vector<HostFileSpec> host_files;
  std::string root;                   // exec root on the submitting host
  int64_t timeout_ms = 600000;
  // The compiler's toolchain tree (common/toolchain_tree.h), a blob in the store; empty for a
  // task that runs no C/C++ compiler. A worker whose host files differ runs the task with it.
  Digest toolchain;
};

// Version of the canonical serialisation below; part of every key, so changing it
// invalidates old cache entries instead of misreading them.
constexpr uint64_t kActionKeyVersion = 2;   // 2: root-free keys (proto/root_free.h)

// Digest of a canonical serialisation: argv, env, cwd, every input's path+digest+mode, the
// outputs, every host file's path+digest and the root (outputs may embed it through debug
// info) — unless the action is root-free (proto/root_free.h): then the root's occurrences in
// argv and env are a fixed placeholder and the root is left out, so every checkout shares it. Contents decide, not timestamps: editing a header changes the key of every action
// that reads it. Requires every input digest to be resolved.
Digest action_key(const ActionSpec& a);

}  // namespace zbuild
