// Store writes off the caller's thread (the daemon's event loop): a blob or metadata put is queued
// and returns at once, an action result returns once it is written with everything before it
// (the caller writes the queue then); one writer thread hands the queue to the backend in
// batches otherwise, blobs first (an action result is put
// after the blobs it names, so a backend never holds a result whose blobs are still queued).
// Reads see queued writes. The queue holds at most `max_pending_bytes` of values; a put beyond
// that waits for the writer. Destruction writes everything queued.
#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/store.h"

namespace zbuild::store {
namespace {

struct Queue {
  std::unordered_map<Digest, std::string, DigestHash> blobs, actions;
  std::unordered_map<std::string, std::string> meta;
  uint64_t bytes = 0;
  bool empty() const { return blobs.empty() && actions.empty() && meta.empty(); }
};

class WriteBehindStore final : public Store {
 public:
  static constexpr size_t kGroupBytes = 4u << 20;
  static constexpr int kGatherMs = 5;
  static constexpr size_t kGatherEntries = 512;

  WriteBehindStore(std::unique_ptr<Store> back, uint64_t max_pending_bytes, Warn warn, ResultWrites results)
      : back_(std::move(back)),
        max_bytes_(max_pending_bytes),
        warn_(std::move(warn)),
        results_(results),
        writer_([this] { write_loop(); }) {}

  ~WriteBehindStore() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    writer_.join();
  }

  Result<bool> has_blob(const Digest& d) override {
    {
      std::lock_guard lock(mu_);
      if (queued_.blobs.count(d) || writing_.blobs.count(d)) return true;
    }
    std::lock_guard b(back_mu_);
    return back_->has_blob(d);
  }

  Result<std::vector<Digest>> missing_blobs(const std::vector<Digest>& ds) override {
    std::vector<Digest> rest;
    {
      std::lock_guard lock(mu_);
      for (auto& d : ds) {
        if (!queued_.blobs.count(d) && !writing_.blobs.count(d)) rest.push_back(d);
      }
    }
    if (rest.empty()) return rest;
    std::lock_guard b(back_mu_);
    return back_->missing_blobs(rest);
  }

  Status put_blob(const Digest& d, std::string_view data) override {
    return enqueue([&](Queue& q) { return replace(q.blobs[d], data); }, data.size());
  }
  Result<std::optional<std::string>> get_blob(const Digest& d) override {
    if (auto v = queued(&Queue::blobs, d)) return v;
    std::lock_guard b(back_mu_);
    return back_->get_blob(d);
  }

  // kWait: an action result is durable when this returns, with everything queued before it
  // (the blobs it names): a task the daemon reports done is in the store even if the daemon is
  // killed right after. The caller writes the queue itself (after a batch the writer has under
  // way): the same wait as handing it to the writer, without waking a thread and waiting to be
  // woken. kQueue: queued like the rest; flush() writes it.
  Status put_action(const Digest& key, std::string_view v) override {
    if (results_ == ResultWrites::kQueue) {
      return enqueue([&](Queue& q) { return replace(q.actions[key], v); }, v.size());
    }
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return !busy_; });
    queued_.bytes = static_cast<uint64_t>(static_cast<int64_t>(queued_.bytes) + replace(queued_.actions[key], v));
    return write_out(lock);
  }

  // Writes what is queued on the caller's thread, after a batch the writer has under way.
  Status flush() override {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return !busy_; });
    if (queued_.empty()) return {};
    return write_out(lock);
  }
  Result<std::optional<std::string>> get_action(const Digest& key) override {
    if (auto v = queued(&Queue::actions, key)) return v;
    std::lock_guard b(back_mu_);
    return back_->get_action(key);
  }

  Status put_meta(std::string_view k, std::string_view v) override {
    return enqueue([&](Queue& q) { return replace(q.meta[std::string(k)], v); }, v.size());
  }
  Result<std::optional<std::string>> get_meta(std::string_view k) override {
    if (auto v = queued(&Queue::meta, std::string(k))) return v;
    std::lock_guard b(back_mu_);
    return back_->get_meta(k);
  }

  // The backend's figures once everything queued is written (status requests are rare).
  StoreStats stats() override {
    {
      std::unique_lock lock(mu_);
      idle_.wait(lock, [&] { return queued_.empty() && !busy_; });
    }
    std::lock_guard b(back_mu_);
    return back_->stats();
  }

 private:
  // Sets `slot` to `v`; the change in queued bytes.
  static int64_t replace(std::string& slot, std::string_view v) {
    int64_t delta = static_cast<int64_t>(v.size()) - static_cast<int64_t>(slot.size());
    slot.assign(v.data(), v.size());
    return delta;
  }

  template <class Put>
  Status enqueue(Put put, size_t size) {
    std::unique_lock lock(mu_);
    // Backpressure: a value that would overfill the queue waits for the writer (one larger than
    // the whole cap goes alone).
    drained_.wait(lock, [&] { return queued_.bytes == 0 || queued_.bytes + size <= max_bytes_; });
    bool was_empty = queued_.empty();
    queued_.bytes = static_cast<uint64_t>(static_cast<int64_t>(queued_.bytes) + put(queued_));
    bool enough = gathered();
    lock.unlock();
    // The writer needs waking when the queue stops being empty (it starts gathering) or has
    // gathered enough; not for every entry (the daemon puts several per finished task).
    if (was_empty || enough) wake_.notify_one();
    return {};
  }

  template <class Map, class Key>
  std::optional<std::string> queued(Map Queue::*m, const Key& k) {
    std::lock_guard lock(mu_);
    for (Queue* q : {&queued_, &writing_}) {
      auto it = (q->*m).find(k);
      if (it != (q->*m).end()) return it->second;
    }
    return std::nullopt;
  }

  bool gathered() const {
    return queued_.bytes >= kGroupBytes ||
           queued_.blobs.size() + queued_.actions.size() + queued_.meta.size() >= kGatherEntries;
  }

  void write_loop() {
    ::pthread_setname_np(::pthread_self(), "zb-store");   // top -H, perf
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return (stopping_ && !busy_) || (!queued_.empty() && !busy_); });
      if (queued_.empty()) return;   // stopping, everything written
      // A few milliseconds more to gather a batch (one backend write for many small entries);
      // reads see the queue meanwhile.
      wake_.wait_for(lock, std::chrono::milliseconds(kGatherMs), [&] { return stopping_ || busy_ || gathered(); });
      if (busy_ || queued_.empty()) continue;   // a put_action is writing the queue itself
      (void)write_out(lock);
    }
  }

  // Writes everything queued to the backend; called with `lock` on mu_ held and no write under
  // way (busy_ false), returns with it held. Blobs first, then results and metadata, in groups of
  // at most kGroupBytes, so a read waits for one group's write, not for a whole large batch.
  // The first failure is returned (and each is reported).
  Status write_out(std::unique_lock<std::mutex>& lock) {
    busy_ = true;
    std::swap(writing_, queued_);
    queued_.bytes = 0;
    lock.unlock();
    drained_.notify_all();
    Status first;
    std::vector<Put> group;
    size_t group_bytes = 0;
    auto flush = [&] {
      if (group.empty()) return;
      std::lock_guard b(back_mu_);
      Status s = back_->put_many(group);
      report(s);
      if (!s.ok() && first.ok()) first = s;
      group.clear();
      group_bytes = 0;
    };
    auto add = [&](Put p) {
      group_bytes += p.value.size();
      group.push_back(p);
      if (group_bytes >= kGroupBytes) flush();
    };
    for (auto& [d, v] : writing_.blobs) add(Put{Put::kBlob, d, {}, v});
    flush();
    for (auto& [k, v] : writing_.actions) add(Put{Put::kAction, k, {}, v});
    for (auto& [k, v] : writing_.meta) add(Put{Put::kMeta, Digest(), k, v});
    flush();
    lock.lock();
    writing_ = Queue();
    busy_ = false;
    idle_.notify_all();
    if (!queued_.empty()) wake_.notify_one();   // what was queued meanwhile
    return first;
  }

  void report(const Status& s) {
    if (s.ok() || !warn_) return;
    warn_("store write failed (the entry is not cached): " + s.error().message);
  }

  const std::unique_ptr<Store> back_;
  const uint64_t max_bytes_;
  Warn warn_;
  const ResultWrites results_;
  std::mutex back_mu_;   // the backend is called from the caller's threads and the writer
  std::mutex mu_;
  std::condition_variable wake_, drained_, idle_;
  Queue queued_, writing_;
  bool stopping_ = false;
  bool busy_ = false;   // writing_ is being written (by the writer or by a put_action)
  std::thread writer_;   // last: started once everything above is ready
};

}  // namespace

std::unique_ptr<Store> make_write_behind_store(std::unique_ptr<Store> back, uint64_t max_pending_bytes, Warn warn,
                                               ResultWrites results) {
  return std::make_unique<WriteBehindStore>(std::move(back), max_pending_bytes, std::move(warn), results);
}

}  // namespace zbuild::store
