#include "daemon/action_cache.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "proto/wire.h"

namespace zbuild::daemon {

namespace fb = flatbuffers;

Status validate_outputs(store::Store& store, const std::vector<std::string>& declared, const Outcome& o) {
  std::set<std::string> want(declared.begin(), declared.end());
  std::set<std::string> seen;
  std::vector<Digest> ds;
  for (auto& out : o.outputs) {
    if (!want.count(out.path)) return make_error("reported output '" + out.path + "' that the task does not declare");
    if (!seen.insert(out.path).second) return make_error("reported output '" + out.path + "' twice");
    ds.push_back(out.digest);
  }
  for (auto& w : want) {
    if (!seen.count(w)) return make_error("output '" + w + "' was not reported");
  }
  auto missing = store.missing_blobs(ds);
  if (!missing.ok()) return make_error("store error: " + missing.error().message);
  if (!missing.value().empty()) return make_error("output blob " + missing.value()[0].str() + " did not arrive intact");
  return {};
}

std::string encode_cached_result(const Outcome& o) {
  fb::FlatBufferBuilder fbb(256 + o.out.size() + o.err.size());
  auto c = wire::CreateCachedResult(
      fbb, o.exit_code, fbb.CreateVector(reinterpret_cast<const uint8_t*>(o.out.data()), o.out.size()),
      fbb.CreateVector(reinterpret_cast<const uint8_t*>(o.err.data()), o.err.size()), proto::build_outputs(fbb, o.outputs),
      o.duration_ms, fbb.CreateString(o.worker));
  fbb.Finish(c);
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

std::optional<Outcome> decode_cached_result(const std::string& v) {
  // The value's bytes may sit at any address; the Verifier needs them aligned.
  std::vector<uint64_t> aligned((v.size() + 7) / 8);
  if (!v.empty()) std::memcpy(aligned.data(), v.data(), v.size());
  auto* p = reinterpret_cast<const uint8_t*>(aligned.data());
  fb::Verifier ver(p, v.size());
  if (!ver.VerifyBuffer<wire::CachedResult>(nullptr)) return std::nullopt;
  auto* c = fb::GetRoot<wire::CachedResult>(p);
  auto outs = proto::parse_outputs(c->outputs());
  if (!outs.ok() || c->exit_code() != 0) return std::nullopt;
  Outcome o;
  o.exit_code = 0;
  o.out = std::string(proto::bytes(c->stdout_data()));
  o.err = std::string(proto::bytes(c->stderr_data()));
  o.outputs = std::move(outs.value());
  o.duration_ms = c->duration_ms();
  o.worker = proto::str(c->worker());
  return o;
}

std::optional<Outcome> ActionCache::lookup(const Digest& key, const std::vector<std::string>& declared,
                                           std::string* error) {
  auto r = store_.get_action(key);
  if (!r.ok()) {
    if (error) *error = r.error().message;
    return std::nullopt;
  }
  if (!r.value()) return std::nullopt;
  auto o = decode_cached_result(*r.value());
  if (!o) {
    if (error) *error = "action cache entry " + key.str() + " is corrupt; ignored";
    return std::nullopt;
  }
  // A hit is only a hit when it names exactly the declared outputs, all still in the CAS.
  if (!validate_outputs(store_, declared, *o).ok()) return std::nullopt;
  return o;
}

Status ActionCache::record(const Digest& key, const std::vector<std::string>& declared, const Outcome& o) {
  if (o.exit_code != 0 || !o.infra_error.empty()) return make_error("only successful results are cached");
  ZB_TRY(validate_outputs(store_, declared, o));
  return record_validated(key, o);
}

Status ActionCache::record_validated(const Digest& key, const Outcome& o) {
  if (o.exit_code != 0 || !o.infra_error.empty()) return make_error("only successful results are cached");
  return store_.put_action(key, encode_cached_result(o));
}

}  // namespace zbuild::daemon
