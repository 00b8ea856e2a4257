// `zbuild status` data: a JSON document built from the daemon's live state (status.cc keeps
// nlohmann/json out of every other translation unit).
#pragma once

#include <cstdint>
#include <string>

#include "daemon/registry.h"
#include "daemon/scheduler.h"
#include "store/store.h"

namespace zbuild::daemon {

struct StatusInputs {
  const Registry& registry;
  const Scheduler& scheduler;
  store::StoreStats store;
  int64_t now_ms;
  uint64_t bytes_received;
  uint64_t forged_results = 0;     // sink results that answered no dispatch
  uint64_t refused_uploads = 0;    // chunks refused by the blob assembler's caps and checks
  uint64_t unfinished_upload_bytes = 0;
  uint64_t client_probes = 0;      // rounds of probes of the builds' clients (a client's disconnect)
};

// Format (version 1): {"version":1,"workers":[{"id","host","platform","sandboxed","programs",
// "any_program","toolchains" (digests of the toolchain trees it has run tasks with: its own files or fetched),
// "verify_mismatches","set_aside","slots","busy","credit","prefetch",
// "short_credit" (credit the daemon added while its tasks were short: registry.h),"tasks_done","last_heartbeat_ms_ago"}],"queue":{"ready","running"},"builds":[{"id","name","total",
// "finished","running"}],"store":{"backend","blobs","bytes","actions"},"counters":{...,"verified",
// "verify_mismatches","verify_skipped","reranks","client_probes"},"estimates":{"compile"|"archive"|"link"|"other":
// {"ms_per_byte","mean_ms","learned"}} (the scheduler's estimator, docs/scheduling.md),
// "cache_hit_rate","security":{"unsandboxed_workers","forged_results","refused_uploads",
// "unfinished_upload_bytes"}}
std::string status_json(const StatusInputs& in);

}  // namespace zbuild::daemon
