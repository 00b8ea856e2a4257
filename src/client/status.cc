#include "client/status.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "client/connection.h"
#include "common/text.h"

namespace zbuild::client {

namespace {

unsigned long long u64(const nlohmann::json& v) { return static_cast<unsigned long long>(v.get<uint64_t>()); }

// The human form of the status JSON. Worker ids and hosts come from workers, build names from
// clients: escaped before they reach the terminal. A field of the wrong type throws
// nlohmann::json::exception (the caller reports malformed status).
void print_status(const Address& addr, const nlohmann::json& j) {
  auto text = [](const nlohmann::json& v) { return printable(v.get<std::string>()); };
  const auto& workers = j.at("workers");
  std::printf("daemon %s\n", addr.str().c_str());
  std::printf("workers: %zu\n", workers.size());
  for (const auto& w : workers) {
    std::printf("  %-32s host %-16s slots %-3d busy %-3d done %-6llu last heartbeat %lld ms ago%s%s\n",
                text(w.at("id")).c_str(), text(w.at("host")).c_str(), w.at("slots").get<int>(), w.at("busy").get<int>(),
                u64(w.at("tasks_done")), static_cast<long long>(w.at("last_heartbeat_ms_ago").get<int64_t>()),
                w.value("sandboxed", true) ? "" : "  UNSANDBOXED", w.value("set_aside", false) ? "  SET ASIDE" : "");
    std::string runs = "the C/C++ toolchain";
    if (w.value("any_program", false)) {
      runs = "any program";
    } else if (w.contains("programs")) {
      for (const auto& p : w.at("programs")) runs += ", " + text(p);
    }
    std::string sandbox = w.value("sandboxed", true) ? "sandboxed" : "no sandbox (runs only toolchains its host has)";
    size_t toolchains = w.contains("toolchains") ? w.at("toolchains").size() : 0;
    std::printf("    platform %s, runs %s, %s, %zu toolchain%s in use\n", text(w.at("platform")).c_str(), runs.c_str(),
                sandbox.c_str(), toolchains, toolchains == 1 ? "" : "s");
  }
  const auto& queue = j.at("queue");
  std::printf("queue: %llu ready, %llu running\n", u64(queue.at("ready")), u64(queue.at("running")));
  const auto& builds = j.at("builds");
  std::printf("builds in progress: %zu\n", builds.size());
  for (const auto& b : builds) {
    std::printf("  #%llu %s: %llu/%llu finished\n", u64(b.at("id")), text(b.at("name")).c_str(), u64(b.at("finished")),
                u64(b.at("total")));
  }
  const auto& store = j.at("store");
  std::printf("store: %s, %llu blobs, %llu bytes, %llu actions\n", text(store.at("backend")).c_str(),
              u64(store.at("blobs")), u64(store.at("bytes")), u64(store.at("actions")));
  if (store.contains("max_bytes") && u64(store.at("max_bytes")) > 0) {
    std::printf("store size cap: %llu of %llu bytes used, %llu evictions\n", u64(store.at("stored_bytes")),
                u64(store.at("max_bytes")), u64(store.at("evictions")));
  }
  if (store.value("read_only", false) || !store.value("write_error", std::string()).empty()) {
    std::printf("store NOT CACHING: %s\n", printable(store.value("write_error", std::string("read-only"))).c_str());
  }
  const auto& c = j.at("counters");
  std::printf("since start: %llu dispatched, %llu cache hits (hit rate %.0f%%), %llu retries, %llu failed\n",
              u64(c.at("dispatched")), u64(c.at("cache_hits")), j.at("cache_hit_rate").get<double>() * 100,
              u64(c.at("retries")), u64(c.at("failed")));
  if (j.contains("security")) {
    const auto& sec = j.at("security");
    std::printf("security: %llu unsandboxed workers, %llu forged results dropped, %llu uploads refused; "
                "verified %llu, mismatches %llu\n",
                u64(sec.at("unsandboxed_workers")), u64(sec.at("forged_results")), u64(sec.at("refused_uploads")),
                u64(c.value("verified", nlohmann::json(0))), u64(c.value("verify_mismatches", nlohmann::json(0))));
  }
}

}  // namespace

int worker_count(const std::string& status_json) {
  auto j = nlohmann::json::parse(status_json, nullptr, false);
  if (j.is_discarded() || !j.contains("workers") || !j["workers"].is_array()) return -1;
  return static_cast<int>(j["workers"].size());
}

int run_status(const std::string& daemon, bool json, const std::string& curve_key, const std::string& daemon_key) {
  auto addr = parse_address(daemon);
  if (!addr.ok()) {
    std::fprintf(stderr, "zbuild: %s\n", printable(addr.error().message).c_str());
    return 2;
  }
  auto curve = proto::load_curve_client(curve_key, daemon_key);
  if (!curve.ok()) {
    std::fprintf(stderr, "zbuild: %s\n", printable(curve.error().message).c_str());
    return 2;
  }
  DaemonConnection conn(addr.value(), std::move(curve.value()));
  auto st = conn.ping(3000);
  if (!st.ok()) {
    std::fprintf(stderr, "zbuild: %s\n", printable(st.error().message).c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", st.value().c_str());
    return 0;
  }
  auto j = nlohmann::json::parse(st.value(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::fprintf(stderr, "zbuild: daemon sent malformed status\n");
    return 1;
  }
  try {
    print_status(addr.value(), j);
  } catch (const nlohmann::json::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "zbuild: daemon sent malformed status (%s)\n", printable(e.what()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace zbuild::client
