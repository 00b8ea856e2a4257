// RocksDB backend: one DB per directory with column families "cas" (digest -> bytes, large
// values in integrated BlobDB blob files), "ac" (action key -> result), "meta" (free-form
// keys) and the recency bookkeeping of the size cap, "lru" (entry -> access stamp and size)
// and "lru_order" (stamp + entry, oldest first); the default column family holds only the
// format marker. See docs/store-format.md (format 2).
//
// A full disk must not stop the daemon: RocksDB's info log is our own (RocksDB's file logger
// asserts on its second write after an ENOSPC, see InfoLog), a failed write is an Error (the
// database keeps serving reads and DB::Resume() is tried again every StoreOptions::retry_ms),
// and a directory that cannot be opened read-write is opened read-only.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <system_error>

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "store/recency.h"
#include "store/store.h"
#include "store/testing.h"

namespace zbuild::store {
namespace {

constexpr const char kFormatKey[] = "format";
constexpr const char kFormatVersion[] = "2";
constexpr uint64_t kMinBlobSize = 64 * 1024;
constexpr uint64_t kInfoLogMaxBytes = 8 << 20;  // LOG is moved to LOG.old at open beyond this

enum Cf : size_t { kDefault = 0, kCas = 1, kAc = 2, kMeta = 3, kLru = 4, kLruOrder = 5, kNumCf = 6 };
constexpr const char* kCfNames[kNumCf] = {"default", "cas", "ac", "meta", "lru", "lru_order"};

// Entries under the size cap are named by a one-letter tag and their key.
constexpr char kBlobTag = 'c';
constexpr char kActionTag = 'a';

Cf cf_of_tag(char tag) { return tag == kBlobTag ? kCas : kAc; }

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

// ---- encodings of the bookkeeping (docs/store-format.md) ----

void append_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t read_be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

struct Usage {
  int64_t stamp = 0;
  uint64_t size = 0;
};

std::string encode_usage(const Usage& u) {
  std::string out;
  append_be64(out, static_cast<uint64_t>(u.stamp));
  append_be64(out, u.size);
  return out;
}

std::optional<Usage> decode_usage(const rocksdb::Slice& v) {
  if (v.size() != 16) return std::nullopt;
  return Usage{static_cast<int64_t>(read_be64(v.data())), read_be64(v.data() + 8)};
}

std::string order_key(int64_t stamp, std::string_view entry) {
  std::string out;
  append_be64(out, static_cast<uint64_t>(stamp));
  out.append(entry);
  return out;
}

std::string encode_size(uint64_t size) {
  std::string out;
  append_be64(out, size);
  return out;
}

// ---- RocksDB's info log ----

// RocksDB's own file logger (EnvLogger in 7.8) asserts — and Debian's librocksdb is built
// with assertions — when it writes again after a failed write, which a full disk guarantees:
// the daemon aborted, at runtime (SstFileManager's recovery thread logs) and at every
// restart (DBImpl's constructor logs the build version). This logger appends each line with
// write(2) and drops what the disk refuses.
class InfoLog final : public rocksdb::Logger {
 public:
  explicit InfoLog(const std::string& path) : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) > kInfoLogMaxBytes) {
      ::rename(path.c_str(), (path + ".old").c_str());
    }
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  InfoLog(const InfoLog&) = delete;
  InfoLog& operator=(const InfoLog&) = delete;
  ~InfoLog() override { Close().PermitUncheckedError(); }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (fd_ < 0) return;
    char line[2048];
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    ::localtime_r(&ts.tv_sec, &t);
    int n = std::snprintf(line, sizeof line, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld ", t.tm_year + 1900, t.tm_mon + 1,
                          t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000);
    if (n < 0) return;
    va_list copy;
    va_copy(copy, ap);
    int m = std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n) - 1, format, copy);
    va_end(copy);
    if (m < 0) return;
    size_t len = std::min(sizeof line - 2, static_cast<size_t>(n) + static_cast<size_t>(m));
    if (len == 0 || line[len - 1] != '\n') line[len++] = '\n';
    ssize_t w = ::write(fd_, line, len);  // a full disk drops the line; nothing else happens
    (void)w;
  }

 protected:
  rocksdb::Status CloseImpl() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return rocksdb::Status::OK();
  }

 private:
  int fd_ = -1;
};

// ---- fault injection for store_test (testing.h) ----

class FaultFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultFile(std::unique_ptr<rocksdb::FSWritableFile> f, std::shared_ptr<testing::DiskFault> fault)
      : rocksdb::FSWritableFileOwnerWrapper(std::move(f)), fault_(std::move(fault)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (fault_->full) return rocksdb::IOStatus::NoSpace("injected", "No space left on device");
    return rocksdb::FSWritableFileOwnerWrapper::Append(data, o, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* dbg) override {
    if (fault_->full) return rocksdb::IOStatus::NoSpace("injected", "No space left on device");
    return rocksdb::FSWritableFileOwnerWrapper::Append(data, o, v, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t off, const rocksdb::IOOptions& o,
                                     rocksdb::IODebugContext* dbg) override {
    if (fault_->full) return rocksdb::IOStatus::NoSpace("injected", "No space left on device");
    return rocksdb::FSWritableFileOwnerWrapper::PositionedAppend(data, off, o, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t off, const rocksdb::IOOptions& o,
                                     const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* dbg) override {
    if (fault_->full) return rocksdb::IOStatus::NoSpace("injected", "No space left on device");
    return rocksdb::FSWritableFileOwnerWrapper::PositionedAppend(data, off, o, v, dbg);
  }

 private:
  std::shared_ptr<testing::DiskFault> fault_;
};

class FaultFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultFs(std::shared_ptr<testing::DiskFault> fault)
      : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()), fault_(std::move(fault)) {}
  const char* Name() const override { return "ZbuildFaultFs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* dbg) override {
    return wrap(target()->NewWritableFile(f, o, r, dbg), r);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    return wrap(target()->ReopenWritableFile(f, o, r, dbg), r);
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override {
    return wrap(target()->ReuseWritableFile(f, old, o, r, dbg), r);
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r, rocksdb::IODebugContext* dbg) override {
    if (fault_->full) return rocksdb::IOStatus::NoSpace("injected", "No space left on device");
    return target()->NewRandomRWFile(f, o, r, dbg);
  }

 private:
  rocksdb::IOStatus wrap(rocksdb::IOStatus s, std::unique_ptr<rocksdb::FSWritableFile>* r) {
    if (s.ok() && fault_->full) {
      r->reset();
      return rocksdb::IOStatus::NoSpace("injected", "No space left on device");
    }
    if (s.ok()) *r = std::make_unique<FaultFile>(std::move(*r), fault_);
    return s;
  }

  std::shared_ptr<testing::DiskFault> fault_;
};

// ---- opening ----

// What every open of one store shares: the info log and, in tests, the faulty file system.
struct DbEnv {
  std::shared_ptr<rocksdb::Logger> log;
  std::unique_ptr<rocksdb::Env> env;  // null: the default Env
};

DbEnv make_env(const std::string& dir, std::shared_ptr<testing::DiskFault> fault) {
  DbEnv e;
  e.log = std::make_shared<InfoLog>(dir + "/LOG");
  if (fault) e.env = rocksdb::NewCompositeEnv(std::make_shared<FaultFs>(std::move(fault)));
  return e;
}

// Column family handles must be destroyed before their DB; this owner is declared after the
// DB in OpenDb so it is destroyed first.
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
  std::unique_ptr<CfHandles> cfs;  // after db: destroyed first

  OpenDb() = default;
  OpenDb(OpenDb&&) = default;
  OpenDb& operator=(OpenDb&& o) noexcept {
    close();
    db = std::move(o.db);
    cfs = std::move(o.cfs);
    return *this;
  }
  ~OpenDb() { close(); }

  void close() {
    cfs.reset();
    if (db) db->Close().PermitUncheckedError();
    db.reset();
  }
};

bool is_lock_error(const rocksdb::Status& s) {
  return s.IsIOError() && s.ToString().find("lock") != std::string::npos;
}

Error rocks_error(const std::string& dir, const std::string& what, const rocksdb::Status& s) {
  std::string msg = "rocksdb store " + dir + ": " + what + ": " + s.ToString();
  if (is_lock_error(s)) msg += " (is another zbuild daemon using this directory?)";
  return make_error(std::move(msg));
}

// Opens the DB; `status` gets RocksDB's own status so callers can tell a lock from a full disk.
Result<OpenDb> open_db(const std::string& dir, const DbEnv& env, bool read_only, rocksdb::Status* status = nullptr) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error("rocksdb store " + dir + ": cannot create directory: " + ec.message());

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = !read_only;
  dbo.create_missing_column_families = !read_only;
  dbo.max_background_jobs = 2;
  dbo.keep_log_file_num = 4;
  dbo.info_log = env.log;
  if (env.env) dbo.env = env.env.get();
  // A failed WAL write stops further writes (a background error) instead of appending to a
  // log that has lost a record; reads go on, and DB::Resume() or RocksDB's own recovery from
  // ENOSPC (its SstFileManager polls for free space) lets writes in again.
  dbo.paranoid_checks = true;

  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (size_t i = 0; i < kNumCf; ++i) {
    descs.emplace_back(kCfNames[i], cf_options(static_cast<Cf>(i)));
  }
  OpenDb out;
  out.cfs = std::make_unique<CfHandles>();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = read_only ? rocksdb::DB::OpenForReadOnly(dbo, dir, descs, &out.cfs->h, &raw)
                                : rocksdb::DB::Open(dbo, dir, descs, &out.cfs->h, &raw);
  out.db.reset(raw);
  out.cfs->db = raw;
  if (status) *status = s;
  if (!s.ok()) {
    out.cfs.reset();
    return rocks_error(dir, read_only ? "cannot open read-only" : "cannot open", s);
  }
  return out;
}

// ---- the store ----

class RocksStore final : public Store {
 public:
  RocksStore(std::string dir, const StoreOptions& opts, DbEnv env)
      : dir_(std::move(dir)), max_bytes_(opts.max_bytes), retry_ms_(opts.retry_ms), recency_(opts.clock, opts.max_bytes ? 0 : opts.refresh_ms),
        env_(std::move(env)) {}
  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;
  ~RocksStore() override = default;

  // Read-write if possible; on a disk that refuses writes (full, read-only) read-only instead.
  Status open() {
    rocksdb::Status s;
    auto rw = open_db(dir_, env_, false, &s);
    if (rw.ok()) {
      db_ = std::move(rw).value();
    } else {
      if (is_lock_error(s) || !s.IsIOError()) return rw.error();  // locked or corrupt: not ours to paper over
      auto ro = open_db(dir_, env_, true);
      if (!ro.ok()) return make_error(rw.error().message + "; and read-only: " + ro.error().message);
      db_ = std::move(ro).value();
      read_only_ = true;
      write_error_ = rw.error().message;
    }
    last_retry_ms_ = recency_.now_ms();
    ZB_TRY(check_format());
    ZB_TRY(load_accounting());
    if (!read_only_ && max_bytes_ != 0 && stored_bytes_ > max_bytes_) {
      // A smaller cap than last time: evict down to it now rather than at the next write.
      rocksdb::WriteBatch b;
      Totals t = totals();
      Evicted ev;
      ZB_TRY(choose_victims(0, "", b, t, ev));
      ZB_TRY(write(b, "evicting down to the size cap"));
      commit(t, ev);
    }
    return {};
  }

  Result<bool> has_blob(const Digest& d) override { return has_through_missing(d); }

  // Key-only: a blob's recency record is written in the batch that writes the blob and
  // deleted in the batch that evicts it, so it answers for presence without the blob's bytes
  // being read (BlobDB keeps large values in blob files). Present blobs are marked as used.
  Result<std::vector<Digest>> missing_blobs(const std::vector<Digest>& digests) override {
    std::lock_guard lock(mu_);
    ZB_TRY(readable());
    std::vector<std::string> entries;
    entries.reserve(digests.size());
    for (const Digest& d : digests) entries.push_back(kBlobTag + d.str());
    auto present = touch(entries);
    if (!present.ok()) return present.error();
    std::vector<Digest> missing;
    for (size_t i = 0; i < digests.size(); ++i) {
      if (!present.value()[i]) missing.push_back(digests[i]);
    }
    return missing;
  }

  Status put_blob(const Digest& d, std::string_view data) override { return put_entry(kBlobTag, d.str(), data); }
  Result<std::optional<std::string>> get_blob(const Digest& d) override { return get(kCas, d.str(), true); }
  Status put_action(const Digest& key, std::string_view result) override {
    return put_entry(kActionTag, key.str(), result);
  }
  Result<std::optional<std::string>> get_action(const Digest& key) override { return get(kAc, key.str(), true); }

  Status put_meta(std::string_view key, std::string_view value) override {
    std::lock_guard lock(mu_);
    const std::string what = "writing meta " + std::string(key);
    ZB_TRY(writable(what));
    rocksdb::WriteBatch b;
    b.Put(cf(kMeta), rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
    return write(b, what);
  }
  Result<std::optional<std::string>> get_meta(std::string_view key) override { return get(kMeta, key, false); }

  // Exact: the counts and sizes are kept with every write (and recomputed at open).
  StoreStats stats() override {
    std::lock_guard lock(mu_);
    StoreStats s;
    s.backend = "rocksdb:" + dir_;
    s.blob_count = blob_count_;
    s.blob_bytes = blob_bytes_;
    s.action_count = action_count_;
    s.max_bytes = max_bytes_;
    s.stored_bytes = stored_bytes_;
    s.evictions = evictions_;
    s.evicted_bytes = evicted_bytes_;
    s.read_only = read_only_;
    s.write_error = write_error_;
    return s;
  }

 private:
  struct Totals {
    uint64_t blob_count = 0, blob_bytes = 0, action_count = 0, stored_bytes = 0;

    void add(std::string_view entry, uint64_t size, int sign) {
      const uint64_t key_size = entry.size() - 1;
      auto adj = [&](uint64_t& v, uint64_t by) { v = sign > 0 ? v + by : v - by; };
      adj(stored_bytes, size);
      if (entry[0] == kBlobTag) {
        adj(blob_count, 1);
        adj(blob_bytes, size - key_size);
      } else {
        adj(action_count, 1);
      }
    }
  };
  struct Evicted {
    uint64_t count = 0, bytes = 0;
    std::string last;  // order key of the last victim: later scans start there
  };

  rocksdb::DB* db() const { return db_.db.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return db_.cfs->h[c]; }

  Totals totals() const { return Totals{blob_count_, blob_bytes_, action_count_, stored_bytes_}; }

  void commit(const Totals& t, const Evicted& ev) {
    blob_count_ = t.blob_count;
    blob_bytes_ = t.blob_bytes;
    action_count_ = t.action_count;
    stored_bytes_ = t.stored_bytes;
    evictions_ += ev.count;
    evicted_bytes_ += ev.bytes;
    if (!ev.last.empty()) evict_floor_ = ev.last;
  }

  Status check_format() {
    std::string v;
    rocksdb::Status s = db()->Get(rocksdb::ReadOptions(), cf(kDefault), kFormatKey, &v);
    if (s.IsNotFound()) {
      if (read_only_) return make_error("rocksdb store " + dir_ + ": a new store cannot be set up: " + write_error_);
      s = db()->Put(rocksdb::WriteOptions(), cf(kDefault), kFormatKey, kFormatVersion);
      if (!s.ok()) return rocks_error(dir_, "writing format marker", s);
      return {};
    }
    if (!s.ok()) return rocks_error(dir_, "reading format marker", s);
    if (v == "1" && !read_only_) return upgrade_from_1();
    if (v != kFormatVersion) {
      return make_error("rocksdb store " + dir_ + ": store format '" + v +
                        "' is not supported by this zbuild (it reads format " + kFormatVersion +
                        "); point the cache at a new directory or delete this one");
    }
    return {};
  }

  // Format 1 had no size-cap bookkeeping: every CAS and action-cache entry gets one (as if
  // used in key order, oldest first), then the marker says 2. Batches of 1,000 entries; an
  // interrupted upgrade starts again from the top (the marker is written last).
  Status upgrade_from_1() {
    for (Cf c : {kLru, kLruOrder}) {   // none in a real format-1 store; cleared if half-written
      std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions(), cf(c)));
      rocksdb::WriteBatch b;
      for (it->SeekToFirst(); it->Valid(); it->Next()) b.Delete(cf(c), it->key());
      if (b.Count() > 0) ZB_TRY(write(b, "upgrading the store from format 1"));
    }
    int64_t stamp = 0;
    for (char tag : {kBlobTag, kActionTag}) {
      std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions(), cf(cf_of_tag(tag))));
      rocksdb::WriteBatch b;
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string entry = tag + it->key().ToString();
        uint64_t size = it->key().size() + it->value().size();
        ++stamp;
        b.Put(cf(kLru), entry, encode_usage({stamp, size}));
        b.Put(cf(kLruOrder), order_key(stamp, entry), encode_size(size));
        if (b.Count() >= 2000) {
          ZB_TRY(write(b, "upgrading the store from format 1"));
          b.Clear();
        }
      }
      if (!it->status().ok()) return rocks_error(dir_, "upgrading the store from format 1", it->status());
      if (b.Count() > 0) ZB_TRY(write(b, "upgrading the store from format 1"));
    }
    rocksdb::Status s = db()->Put(rocksdb::WriteOptions(), cf(kDefault), kFormatKey, kFormatVersion);
    if (!s.ok()) return rocks_error(dir_, "writing format marker", s);
    return {};
  }

  // Sizes and counts from the "lru" column family, and the newest stamp so that recency
  // continues after it.
  Status load_accounting() {
    Totals t;
    int64_t newest = 0;
    std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions(), cf(kLru)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto u = decode_usage(it->value());
      const rocksdb::Slice k = it->key();
      if (!u || k.size() < 2 || (k[0] != kBlobTag && k[0] != kActionTag)) {
        return make_error("rocksdb store " + dir_ + ": corrupt size-cap bookkeeping entry '" + k.ToString() +
                          "'; delete the directory");
      }
      t.add(std::string_view(k.data(), k.size()), u->size, +1);
      newest = std::max(newest, u->stamp);
    }
    if (!it->status().ok()) return rocks_error(dir_, "reading the size-cap bookkeeping", it->status());
    blob_count_ = t.blob_count;
    blob_bytes_ = t.blob_bytes;
    action_count_ = t.action_count;
    stored_bytes_ = t.stored_bytes;
    recency_.continue_after(newest);
    return {};
  }

  bool retry_due() {
    const int64_t now = recency_.now_ms();
    if (now - last_retry_ms_ < retry_ms_) return false;
    last_retry_ms_ = now;
    return true;
  }

  Status readable() {
    if (!db_.db && retry_due()) reopen();
    if (!db_.db) return make_error("rocksdb store " + dir_ + ": closed after a failed reopen: " + write_error_);
    return {};
  }

  // Writes need a read-write DB. One opened read-only is reopened read-write when a retry is due.
  Status writable(const std::string& what) {
    if ((read_only_ || !db_.db) && retry_due()) reopen();
    if (!db_.db) return make_error("rocksdb store " + dir_ + ": " + what + ": closed after a failed reopen: " + write_error_);
    if (read_only_) {
      return make_error("rocksdb store " + dir_ + ": " + what + ": the store is read-only (" + write_error_ + ")");
    }
    return {};
  }

  void reopen() {
    db_.close();
    rocksdb::Status s;
    auto rw = open_db(dir_, env_, false, &s);
    if (rw.ok()) {
      db_ = std::move(rw).value();
      read_only_ = false;
      write_error_.clear();
      return;
    }
    write_error_ = rw.error().message;
    auto ro = open_db(dir_, env_, true);
    if (ro.ok()) db_ = std::move(ro).value();
    read_only_ = true;
  }

  Status write(rocksdb::WriteBatch& b, const std::string& what) {
    // WAL on (the default): a killed daemon loses nothing that put() returned for.
    rocksdb::Status s = db()->Write(rocksdb::WriteOptions(), &b);
    if (!s.ok() && retry_due()) {
      // Writes stopped by a background error (a full disk) come back once it is cleared:
      // DB::Resume() when RocksDB can recover in place, else a reopen, which replays the WAL
      // up to the failed record (and falls back to read-only while the disk is still full).
      if (db()->Resume().ok()) {
        s = db()->Write(rocksdb::WriteOptions(), &b);
      }
      if (!s.ok()) {
        reopen();
        if (db_.db && !read_only_) s = db()->Write(rocksdb::WriteOptions(), &b);
      }
    }
    if (!s.ok() && (!db_.db || read_only_)) {
      return make_error("rocksdb store " + dir_ + ": " + what + ": the store is read-only (" + write_error_ + ")");
    }
    if (!s.ok()) {
      Error e = rocks_error(dir_, what, s);
      write_error_ = e.message;
      return e;
    }
    write_error_.clear();
    return {};
  }

  // Adds to `b` the deletion of the least recently used entries (never `keep`) until
  // `incoming` more bytes fit under the cap; `t` and `ev` follow.
  Status choose_victims(uint64_t incoming, std::string_view keep, rocksdb::WriteBatch& b, Totals& t, Evicted& ev) {
    if (max_bytes_ == 0 || t.stored_bytes + incoming <= max_bytes_) return {};
    rocksdb::ReadOptions ro;
    rocksdb::Slice floor(evict_floor_);
    if (!evict_floor_.empty()) ro.iterate_lower_bound = &floor;  // skips the tombstones of earlier evictions
    std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(ro, cf(kLruOrder)));
    for (it->SeekToFirst(); it->Valid() && t.stored_bytes + incoming > max_bytes_; it->Next()) {
      const rocksdb::Slice k = it->key(), v = it->value();
      if (k.size() < 10 || v.size() != 8) {
        return make_error("rocksdb store " + dir_ + ": corrupt size-cap order entry; delete the directory");
      }
      std::string_view entry(k.data() + 8, k.size() - 8);
      if (entry == keep) continue;
      const uint64_t size = read_be64(v.data());
      const rocksdb::Slice key(entry.data() + 1, entry.size() - 1);
      b.Delete(cf(cf_of_tag(entry[0])), key);
      b.Delete(cf(kLru), rocksdb::Slice(entry.data(), entry.size()));
      b.Delete(cf(kLruOrder), k);
      t.add(entry, size, -1);
      ++ev.count;
      ev.bytes += size;
      ev.last = k.ToString();
    }
    if (!it->status().ok()) return rocks_error(dir_, "reading the size-cap order", it->status());
    return {};
  }

  Result<std::optional<Usage>> usage_of(const std::string& entry) {
    std::string v;
    rocksdb::Status s = db()->Get(rocksdb::ReadOptions(), cf(kLru), entry, &v);
    if (s.IsNotFound()) return std::optional<Usage>();
    if (!s.ok()) return rocks_error(dir_, "reading the size-cap bookkeeping of " + entry.substr(1), s);
    return decode_usage(v);
  }

  // Without a size cap, every entry with its recency in one atomic batch (one log write); with
  // one, entry by entry (each makes room for itself).
  Status put_many(const std::vector<Put>& puts) override {
    if (max_bytes_ != 0) return Store::put_many(puts);
    std::lock_guard lock(mu_);
    const std::string what = "writing " + std::to_string(puts.size()) + " entries";
    ZB_TRY(writable(what));
    rocksdb::WriteBatch b;
    Totals t = totals();
    std::unordered_map<std::string, Usage> added;   // entries earlier in this batch
    for (auto& p : puts) {
      if (p.kind == Put::kMeta) {
        b.Put(cf(kMeta), rocksdb::Slice(p.key.data(), p.key.size()), rocksdb::Slice(p.value.data(), p.value.size()));
        continue;
      }
      const char tag = p.kind == Put::kBlob ? kBlobTag : kActionTag;
      const std::string key = p.digest.str();
      const std::string entry = tag + key;
      std::optional<Usage> old;
      if (auto a = added.find(entry); a != added.end()) {
        old = a->second;
      } else {
        auto u = usage_of(entry);
        if (!u.ok()) return u.error();
        old = u.value();
      }
      if (old) {
        b.Delete(cf(kLruOrder), order_key(old->stamp, entry));
        t.add(entry, old->size, -1);
      }
      const uint64_t size = key.size() + p.value.size();
      const Usage now{recency_.next(), size};
      b.Put(cf(cf_of_tag(tag)), key, rocksdb::Slice(p.value.data(), p.value.size()));
      b.Put(cf(kLru), entry, encode_usage(now));
      b.Put(cf(kLruOrder), order_key(now.stamp, entry), encode_size(size));
      t.add(entry, size, +1);
      added[entry] = now;
    }
    ZB_TRY(write(b, what));
    commit(t, Evicted());
    return {};
  }

  // The entry, its recency and the evictions that make room for it, in one atomic batch.
  Status put_entry(char tag, const std::string& key, std::string_view value) {
    std::lock_guard lock(mu_);
    const std::string what = std::string("writing ") + kCfNames[cf_of_tag(tag)] + " " + key;
    ZB_TRY(writable(what));
    const uint64_t size = key.size() + value.size();
    if (max_bytes_ != 0 && size > max_bytes_) {
      return make_error("rocksdb store " + dir_ + ": " + what + ": " + std::to_string(size) +
                        " bytes are more than the store's size cap of " + std::to_string(max_bytes_) + " bytes");
    }
    const std::string entry = tag + key;
    auto old = usage_of(entry);
    if (!old.ok()) return old.error();
    rocksdb::WriteBatch b;
    Totals t = totals();
    if (old.value()) {
      b.Delete(cf(kLruOrder), order_key(old.value()->stamp, entry));
      t.add(entry, old.value()->size, -1);
    }
    Evicted ev;
    ZB_TRY(choose_victims(size, entry, b, t, ev));
    const int64_t stamp = recency_.next();
    b.Put(cf(cf_of_tag(tag)), key, rocksdb::Slice(value.data(), value.size()));
    b.Put(cf(kLru), entry, encode_usage({stamp, size}));
    b.Put(cf(kLruOrder), order_key(stamp, entry), encode_size(size));
    t.add(entry, size, +1);
    ZB_TRY(write(b, what));
    commit(t, ev);
    return {};
  }

  // Marks entries as just used (best effort: a store that cannot write still reads) and says
  // which of them exist.
  Result<std::vector<char>> touch(const std::vector<std::string>& entries) {
    std::vector<char> present(entries.size(), 0);
    if (entries.empty() || !db_.db) return present;
    std::vector<rocksdb::Slice> keys(entries.begin(), entries.end());
    std::vector<rocksdb::PinnableSlice> values(entries.size());
    std::vector<rocksdb::Status> statuses(entries.size());
    db()->MultiGet(rocksdb::ReadOptions(), cf(kLru), keys.size(), keys.data(), values.data(), statuses.data());
    rocksdb::WriteBatch b;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!statuses[i].ok()) {
        if (statuses[i].IsNotFound()) continue;
        return rocks_error(dir_, "looking up " + entries[i].substr(1), statuses[i]);
      }
      auto u = decode_usage(values[i]);
      if (!u) continue;
      present[i] = 1;
      if (read_only_ || recency_.recent(u->stamp)) continue;
      const int64_t stamp = recency_.next();
      b.Delete(cf(kLruOrder), order_key(u->stamp, entries[i]));
      b.Put(cf(kLruOrder), order_key(stamp, entries[i]), encode_size(u->size));
      b.Put(cf(kLru), entries[i], encode_usage({stamp, u->size}));
    }
    if (b.Count() > 0) (void)write(b, "updating recency");
    return present;
  }

  Result<std::optional<std::string>> get(Cf c, std::string_view key, bool counted) {
    std::lock_guard lock(mu_);
    ZB_TRY(readable());
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db()->Get(rocksdb::ReadOptions(), cf(c), rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return rocks_error(dir_, std::string("reading ") + kCfNames[c] + " " + std::string(key), s);
    std::optional<std::string> out(value.ToString());
    if (counted) (void)touch({(c == kCas ? kBlobTag : kActionTag) + std::string(key)});
    return out;
  }

  std::mutex mu_;
  const std::string dir_;
  const uint64_t max_bytes_;
  const int64_t retry_ms_;
  Recency recency_;
  DbEnv env_;        // outlives db_ (declared before it)
  OpenDb db_;
  bool read_only_ = false;
  std::string write_error_;  // why writes fail now; empty when the last write worked
  int64_t last_retry_ms_ = 0;
  uint64_t blob_count_ = 0, blob_bytes_ = 0, action_count_ = 0, stored_bytes_ = 0;
  uint64_t evictions_ = 0, evicted_bytes_ = 0;
  std::string evict_floor_;
};

Result<std::unique_ptr<Store>> open_with(const std::string& dir, const StoreOptions& opts,
                                         std::shared_ptr<testing::DiskFault> fault) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error("rocksdb store " + dir + ": cannot create directory: " + ec.message());
  auto store = std::make_unique<RocksStore>(dir, opts, make_env(dir, std::move(fault)));
  ZB_TRY(store->open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace

Result<std::unique_ptr<Store>> open_rocksdb_store(const std::string& dir, const StoreOptions& opts) {
  return open_with(dir, opts, nullptr);
}

namespace testing {

Status set_rocksdb_format(const std::string& dir, const std::string& value) {
  DbEnv env = make_env(dir, nullptr);
  auto open = open_db(dir, env, false);
  if (!open.ok()) return open.error();
  rocksdb::Status s = open.value().db->Put(rocksdb::WriteOptions(), open.value().cfs->h[kDefault], kFormatKey, value);
  if (!s.ok()) return rocks_error(dir, "writing format marker", s);
  return {};
}

Result<std::unique_ptr<Store>> open_rocksdb_store_with_fault(const std::string& dir, const StoreOptions& opts,
                                                             std::shared_ptr<DiskFault> fault) {
  return open_with(dir, opts, std::move(fault));
}

}  // namespace testing

}  // namespace zbuild::store
