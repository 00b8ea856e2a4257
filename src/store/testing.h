// Hooks for store_test only: reach into a backend's on-disk state without exposing its
// headers. Not for production code.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace zbuild::store::testing {

// Overwrites the format marker of the RocksDB store in `dir` (which must not be open).
Status set_rocksdb_format(const std::string& dir, const std::string& value);

// A disk that can fill up (leveldb's EnvWrapper idea): while `full` is set, every file the
// RocksDB store creates or appends to fails with ENOSPC ("No space left on device").
struct DiskFault {
  std::atomic<bool> full{false};
};

// open_rocksdb_store() on a file system that obeys `fault`.
Result<std::unique_ptr<Store>> open_rocksdb_store_with_fault(const std::string& dir, const StoreOptions& opts,
                                                             std::shared_ptr<DiskFault> fault);

}  // namespace zbuild::store::testing
