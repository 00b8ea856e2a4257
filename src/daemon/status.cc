#include "daemon/status.h"

#include <nlohmann/json.hpp>

namespace zbuild::daemon {

std::string status_json(const StatusInputs& in) {
  nlohmann::json j;
  j["version"] = 1;
  auto& ws = j["workers"] = nlohmann::json::array();
  for (auto& [_, w] : in.registry.workers()) {
    std::vector<std::string> toolchains;
    for (auto& d : w.toolchains) toolchains.push_back(d.str());
    ws.push_back({{"id", w.id},
                  {"host", w.host},
                  {"platform", w.platform},
                  {"sandboxed", w.sandboxed},
                  {"programs", w.programs},
                  {"any_program", w.any_program},
                  {"toolchains", toolchains},
                  {"verify_mismatches", w.mismatches},
                  {"set_aside", w.set_aside},
                  {"slots", w.slots},
                  {"busy", w.running.size()},
                  {"credit", w.credit},
                  {"prefetch", w.prefetch},
                  {"short_credit", w.short_extra},
                  {"tasks_done", w.tasks_done},
                  {"last_heartbeat_ms_ago", in.now_ms - w.last_seen_ms}});
  }
  j["queue"] = {{"ready", in.scheduler.ready_count()}, {"running", in.scheduler.running_count()}};
  auto& bs = j["builds"] = nlohmann::json::array();
  for (auto& [id, b] : in.scheduler.builds()) {
    bs.push_back({{"id", id}, {"name", b->name}, {"total", b->tasks.size()}, {"finished", b->finished},
                  {"running", b->running}});
  }
  j["store"] = {{"backend", in.store.backend},
                {"blobs", in.store.blob_count},
                {"bytes", in.store.blob_bytes},
                {"actions", in.store.action_count},
                {"stored_bytes", in.store.stored_bytes},
                {"max_bytes", in.store.max_bytes},
                {"evictions", in.store.evictions},
                {"evicted_bytes", in.store.evicted_bytes},
                {"read_only", in.store.read_only},
                {"write_error", in.store.write_error}};
  const auto& c = in.scheduler.counters();
  j["counters"] = {{"builds", c.builds},           {"tasks_received", c.tasks_received},
                   {"dispatched", c.dispatched},   {"cache_hits", c.cache_hits},
                   {"executed", c.executed},       {"failed", c.failed},
                   {"retries", c.retries},         {"deduplicated", c.deduplicated},
                   {"late_results", c.late_results}, {"bytes_received", in.bytes_received},
                   {"verified", c.verified},       {"verify_mismatches", c.verify_mismatches},
                   {"verify_skipped", c.verify_skipped}, {"reranks", c.reranks},
                   {"client_probes", in.client_probes}};
  // The estimator's model per kind (docs/scheduling.md): what a task never timed is estimated at.
  auto& es = j["estimates"] = nlohmann::json::object();
  for (size_t k = 0; k < kTaskKinds; ++k) {
    auto kind = static_cast<TaskKind>(k);
    auto m = in.scheduler.estimator().model(kind);
    es[kind_name(kind)] = {{"ms_per_byte", m.rate}, {"mean_ms", m.mean}, {"learned", in.scheduler.estimator().learned(kind)}};
  }
  uint64_t unsandboxed = 0;
  for (auto& [_, w] : in.registry.workers()) unsandboxed += w.sandboxed ? 0 : 1;
  j["security"] = {{"unsandboxed_workers", unsandboxed},
                   {"forged_results", in.forged_results},
                   {"refused_uploads", in.refused_uploads},
                   {"unfinished_upload_bytes", in.unfinished_upload_bytes}};
  uint64_t looked = c.cache_hits + c.dispatched;
  j["cache_hit_rate"] = looked ? static_cast<double>(c.cache_hits) / static_cast<double>(looked) : 0.0;
  return j.dump();
}

}  // namespace zbuild::daemon
