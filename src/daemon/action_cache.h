// The action cache as the daemon's trust boundary (docs/security.md, "What a worker (or anyone who
// can reach the sink) can and cannot do"): the only place that writes action results, and only
// after a result has passed every check — it answers a dispatch the daemon made (checked by the
// caller), it succeeded, it reports exactly the declared outputs, and every output blob is in the
// CAS. Entries are CachedResult FlatBuffers (schemas/zbuild.fbs).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "daemon/scheduler.h"
#include "store/store.h"

namespace zbuild::daemon {

// Checks a worker's outcome against the task's declared outputs: each declared output exactly
// once, nothing undeclared, every output blob present in `store`. The error names the output.
Status validate_outputs(store::Store& store, const std::vector<std::string>& declared, const Outcome& o);

std::string encode_cached_result(const Outcome& o);
// Decodes (Verifier first) a stored entry; nullopt for a corrupt or failed entry.
std::optional<Outcome> decode_cached_result(const std::string& value);

class ActionCache {
 public:
  explicit ActionCache(store::Store& store) : store_(store) {}

  // A hit: an entry whose outputs are exactly `declared` and whose blobs are all present.
  // Store errors read as a miss (reported through `error`, when given).
  std::optional<Outcome> lookup(const Digest& key, const std::vector<std::string>& declared,
                                std::string* error = nullptr);
  // Writes a successful, validated outcome. The caller has checked that it answers the
  // current dispatch of the task whose key this is.
  Status record(const Digest& key, const std::vector<std::string>& declared, const Outcome& o);
  // The same, for an outcome the caller has just checked with validate_outputs().
  Status record_validated(const Digest& key, const Outcome& o);

 private:
  store::Store& store_;
};

}  // namespace zbuild::daemon
