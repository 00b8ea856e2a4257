// Hooks for store_test only: reach into a backend's on-disk state without exposing its
// headers. Not for production code.
#pragma once

#include <string>

#include "common/result.h"

namespace zbuild::store::testing {

// Overwrites the format marker of the RocksDB store in `dir` (which must not be open).
Status set_rocksdb_format(const std::string& dir, const std::string& value);

}  // namespace zbuild::store::testing
