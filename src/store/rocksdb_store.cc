// RocksDB backend: one DB per directory with column families "cas" (digest -> bytes, large
// values in integrated BlobDB blob files), "ac" (action key -> result) and "meta" (free-form
// keys); the default column family holds only the format marker. See docs/store-format.md.
#include <algorithm>
#include <filesystem>
#include <system_error>

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include "store/store.h"
#include "store/testing.h"

namespace zbuild::store {
namespace {

constexpr const char kFormatKey[] = "format";
constexpr const char kFormatVersion[] = "1";
constexpr uint64_t kMinBlobSize = 64 * 1024;

enum Cf : size_t { kDefault = 0, kCas = 1, kAc = 2, kMeta = 3, kNumCf = 4 };
constexpr const char* kCfNames[kNumCf] = {"default", "cas", "ac", "meta"};

rocksdb::CompressionType blob_compression() {
  auto supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType t) {
    return std::find(supported.begin(), supported.end(), t) != supported.end();
  };
  if (has(rocksdb::kZSTD)) return rocksdb::kZSTD;
  if (has(rocksdb::kLZ4Compression)) return rocksdb::kLZ4Compression;
  return rocksdb::kNoCompression;
}

rocksdb::ColumnFamilyOptions cf_options(Cf cf) {
  rocksdb::ColumnFamilyOptions o;
  // Whole-key bloom filters let missing_blobs()/get_*() reject absent keys without I/O.
  rocksdb::BlockBasedTableOptions t;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  if (cf == kCas) {
    o.enable_blob_files = true;
    o.min_blob_size = kMinBlobSize;
    o.blob_compression_type = blob_compression();
    o.enable_blob_garbage_collection = true;  // reclaims blobs rewritten under the same digest
  }
  return o;
}

// Column family handles must be destroyed before their DB; this owner is declared after the
// DB in RocksStore so it is destroyed first.
struct CfHandles {
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> h;
  CfHandles() = default;
  CfHandles(const CfHandles&) = delete;
  CfHandles& operator=(const CfHandles&) = delete;
  ~CfHandles() {
    for (auto* x : h) {
      if (x != nullptr) db->DestroyColumnFamilyHandle(x).PermitUncheckedError();
    }
  }
};

struct OpenDb {
  std::unique_ptr<rocksdb::DB> db;
  std::unique_ptr<CfHandles> cfs;
};

Error rocks_error(const std::string& dir, const std::string& what, const rocksdb::Status& s) {
  std::string msg = "rocksdb store " + dir + ": " + what + ": " + s.ToString();
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    msg += " (is another zbuild daemon using this directory?)";
  }
  return make_error(std::move(msg));
}

Result<OpenDb> open_db(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error("rocksdb store " + dir + ": cannot create directory: " + ec.message());

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = 2;
  dbo.keep_log_file_num = 4;

  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (size_t i = 0; i < kNumCf; ++i) {
    descs.emplace_back(kCfNames[i], cf_options(static_cast<Cf>(i)));
  }
  OpenDb out;
  out.cfs = std::make_unique<CfHandles>();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, dir, descs, &out.cfs->h, &raw);
  out.db.reset(raw);
  out.cfs->db = raw;
  if (!s.ok()) {
    out.cfs.reset();
    return rocks_error(dir, "cannot open", s);
  }
  return out;
}

class RocksStore final : public Store {
 public:
  RocksStore(std::string dir, OpenDb open) : dir_(std::move(dir)), db_(std::move(open.db)), cfs_(std::move(open.cfs)) {}
  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  ~RocksStore() override {
    cfs_.reset();
    if (db_) db_->Close().PermitUncheckedError();
    db_.reset();
  }

  Status check_format() {
    std::string v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kDefault), kFormatKey, &v);
    if (s.IsNotFound()) {
      s = db_->Put(rocksdb::WriteOptions(), cf(kDefault), kFormatKey, kFormatVersion);
      if (!s.ok()) return rocks_error(dir_, "writing format marker", s);
      return {};
    }
    if (!s.ok()) return rocks_error(dir_, "reading format marker", s);
    if (v != kFormatVersion) {
      return make_error("rocksdb store " + dir_ + ": store format '" + v +
                        "' is not supported by this zbuild (it reads format " + kFormatVersion +
                        "); point the cache at a new directory or delete this one");
    }
    return {};
  }

  Result<bool> has_blob(const Digest& d) override {
    auto missing = missing_blobs({d});
    if (!missing.ok()) return missing.error();
    return missing.value().empty();
  }

  Result<std::vector<Digest>> missing_blobs(const std::vector<Digest>& digests) override {
    // First a memory-only KeyMayExist (bloom filters, memtables, block cache): "no" is
    // definite. The undecided rest goes through one batched MultiGet.
    rocksdb::ReadOptions ro;
    std::vector<char> present(digests.size(), 0);
    std::vector<size_t> undecided;
    std::vector<std::string> keys(digests.size());
    for (size_t i = 0; i < digests.size(); ++i) {
      keys[i] = digests[i].str();
      std::string value;
      bool found = false;
      if (!db_->KeyMayExist(ro, cf(kCas), keys[i], &value, &found)) continue;
      if (found) {
        present[i] = 1;
      } else {
        undecided.push_back(i);
      }
    }
    if (!undecided.empty()) {
      std::vector<rocksdb::Slice> slices;
      slices.reserve(undecided.size());
      for (size_t i : undecided) slices.emplace_back(keys[i]);
      std::vector<rocksdb::PinnableSlice> values(undecided.size());
      std::vector<rocksdb::Status> statuses(undecided.size());
      db_->MultiGet(ro, cf(kCas), slices.size(), slices.data(), values.data(), statuses.data());
      for (size_t j = 0; j < undecided.size(); ++j) {
        if (statuses[j].ok()) {
          present[undecided[j]] = 1;
        } else if (!statuses[j].IsNotFound()) {
          return rocks_error(dir_, "looking up " + keys[undecided[j]], statuses[j]);
        }
      }
    }
    std::vector<Digest> missing;
    for (size_t i = 0; i < digests.size(); ++i) {
      if (!present[i]) missing.push_back(digests[i]);
    }
    return missing;
  }

  Status put_blob(const Digest& d, std::string_view data) override { return put(kCas, d.str(), data); }
  Result<std::optional<std::string>> get_blob(const Digest& d) override { return get(kCas, d.str()); }
  Status put_action(const Digest& key, std::string_view result) override { return put(kAc, key.str(), result); }
  Result<std::optional<std::string>> get_action(const Digest& key) override { return get(kAc, key.str()); }
  Status put_meta(std::string_view key, std::string_view value) override { return put(kMeta, key, value); }
  Result<std::optional<std::string>> get_meta(std::string_view key) override { return get(kMeta, key); }

  // Approximate, from RocksDB's own estimates: key counts are "rocksdb.estimate-num-keys"
  // (overwrites not yet compacted count twice); blob bytes are the blob files' size plus the
  // cas column family's live SST data plus its memtables.
  StoreStats stats() override {
    StoreStats s;
    s.backend = "rocksdb:" + dir_;
    s.blob_count = int_property(kCas, "rocksdb.estimate-num-keys");
    s.action_count = int_property(kAc, "rocksdb.estimate-num-keys");
    s.blob_bytes = int_property(kCas, "rocksdb.total-blob-file-size") +
                   int_property(kCas, "rocksdb.estimate-live-data-size") +
                   int_property(kCas, "rocksdb.cur-size-all-mem-tables");
    return s;
  }

 private:
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return cfs_->h[c]; }

  uint64_t int_property(Cf c, const std::string& name) {
    uint64_t v = 0;
    if (!db_->GetIntProperty(cf(c), name, &v)) return 0;
    return v;
  }

  Status put(Cf c, std::string_view key, std::string_view value) {
    // WAL on (the default): a killed daemon loses nothing that put() returned for.
    rocksdb::Status s = db_->Put(rocksdb::WriteOptions(), cf(c), rocksdb::Slice(key.data(), key.size()),
                                 rocksdb::Slice(value.data(), value.size()));
    if (!s.ok()) return rocks_error(dir_, std::string("writing ") + kCfNames[c] + " " + std::string(key), s);
    return {};
  }

  Result<std::optional<std::string>> get(Cf c, std::string_view key) {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(c), rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return rocks_error(dir_, std::string("reading ") + kCfNames[c] + " " + std::string(key), s);
    return std::optional<std::string>(value.ToString());
  }

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<CfHandles> cfs_;  // after db_: destroyed first
};

}  // namespace

Result<std::unique_ptr<Store>> open_rocksdb_store(const std::string& dir) {
  auto open = open_db(dir);
  if (!open.ok()) return open.error();
  auto store = std::make_unique<RocksStore>(dir, std::move(open).value());
  ZB_TRY(store->check_format());
  return std::unique_ptr<Store>(std::move(store));
}

namespace testing {

Status set_rocksdb_format(const std::string& dir, const std::string& value) {
  auto open = open_db(dir);
  if (!open.ok()) return open.error();
  rocksdb::Status s = open.value().db->Put(rocksdb::WriteOptions(), open.value().cfs->h[kDefault], kFormatKey, value);
  if (!s.ok()) return rocks_error(dir, "writing format marker", s);
  open.value().cfs.reset();
  return {};
}

}  // namespace testing

}  // namespace zbuild::store
