// open_store() dispatch, parse_byte_size() and the default Store::missing_blobs().
#include "store/store.h"

#include <cctype>
#include <charconv>
#include <limits>

namespace zbuild::store {

Result<std::vector<Digest>> Store::missing_blobs(const std::vector<Digest>& digests) {
  std::vector<Digest> missing;
  for (const Digest& d : digests) {
    auto has = has_blob(d);
    if (!has.ok()) return has.error();
    if (!has.value()) missing.push_back(d);
  }
  return missing;
}

Result<uint64_t> parse_byte_size(std::string_view text) {
  auto bad = [&] {
    return make_error("bad size '" + std::string(text) + "' (expected bytes or a number with K, M, G or T, e.g. 500M)");
  };
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) return bad();
  std::string unit(end, text.data() + text.size());
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.ends_with("IB")) unit.resize(unit.size() - 2);
  else if (unit.size() > 1 && unit.ends_with("B")) unit.pop_back();
  else if (unit == "B") unit.clear();
  int shift = 0;
  if (unit.empty()) shift = 0;
  else if (unit == "K") shift = 10;
  else if (unit == "M") shift = 20;
  else if (unit == "G") shift = 30;
  else if (unit == "T") shift = 40;
  else return bad();
  if (shift > 0 && n > (std::numeric_limits<uint64_t>::max() >> shift)) return bad();
  return n << shift;
}

bool is_redis_spec(std::string_view spec) { return spec.starts_with("redis://") || spec.starts_with("redis+unix://"); }

Result<std::unique_ptr<Store>> open_store(const std::string& spec, const StoreOptions& opts) {
  if (spec.empty()) {
    return make_error("empty store spec (expected DIR, rocksdb:DIR, redis://HOST:PORT[/DB], redis+unix://PATH or memory)");
  }
  if (spec == "memory") return make_memory_store(opts);
  if (is_redis_spec(spec)) return open_redis_store(spec);  // evicts by the server's maxmemory
  if (spec.starts_with("rocksdb:")) {
    std::string dir = spec.substr(std::string_view("rocksdb:").size());
    if (dir.empty()) return make_error("store spec '" + spec + "' names no directory");
    return open_rocksdb_store(dir, opts);
  }
  return open_rocksdb_store(spec, opts);
}

Status Store::put_many(const std::vector<Put>& puts) {
  Status first;
  for (auto& p : puts) {
    Status st = p.kind == Put::kBlob     ? put_blob(p.digest, p.value)
                : p.kind == Put::kAction ? put_action(p.digest, p.value)
                                         : put_meta(p.key, p.value);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace zbuild::store
