#include "client/status.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "client/connection.h"

namespace zbuild::client {

int worker_count(const std::string& status_json) {
  auto j = nlohmann::json::parse(status_json, nullptr, false);
  if (j.is_discarded() || !j.contains("workers") || !j["workers"].is_array()) return -1;
  return static_cast<int>(j["workers"].size());
}

int run_status(const std::string& daemon, bool json, const std::string& curve_key, const std::string& daemon_key) {
  auto addr = parse_address(daemon);
  if (!addr.ok()) {
    std::fprintf(stderr, "zbuild: %s\n", addr.error().message.c_str());
    return 2;
  }
  auto curve = proto::load_curve_client(curve_key, daemon_key);
  if (!curve.ok()) {
    std::fprintf(stderr, "zbuild: %s\n", curve.error().message.c_str());
    return 2;
  }
  DaemonConnection conn(addr.value(), std::move(curve.value()));
  auto st = conn.ping(3000);
  if (!st.ok()) {
    std::fprintf(stderr, "zbuild: %s\n", st.error().message.c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", st.value().c_str());
    return 0;
  }
  auto j = nlohmann::json::parse(st.value(), nullptr, false);
  if (j.is_discarded()) {
    std::fprintf(stderr, "zbuild: daemon sent malformed status\n");
    return 1;
  }
  std::printf("daemon %s\n", addr.value().str().c_str());
  std::printf("workers: %zu\n", j["workers"].size());
  for (auto& w : j["workers"]) {
    std::printf("  %-32s host %-16s slots %-3d busy %-3d done %-6llu last heartbeat %lld ms ago\n",
                w["id"].get<std::string>().c_str(), w["host"].get<std::string>().c_str(), w["slots"].get<int>(),
                w["busy"].get<int>(), static_cast<unsigned long long>(w["tasks_done"].get<uint64_t>()),
                static_cast<long long>(w["last_heartbeat_ms_ago"].get<int64_t>()));
  }
  std::printf("queue: %llu ready, %llu running\n", static_cast<unsigned long long>(j["queue"]["ready"].get<uint64_t>()),
              static_cast<unsigned long long>(j["queue"]["running"].get<uint64_t>()));
  std::printf("builds in progress: %zu\n", j["builds"].size());
  for (auto& b : j["builds"]) {
    std::printf("  #%llu %s: %llu/%llu finished\n", static_cast<unsigned long long>(b["id"].get<uint64_t>()),
                b["name"].get<std::string>().c_str(), static_cast<unsigned long long>(b["finished"].get<uint64_t>()),
                static_cast<unsigned long long>(b["total"].get<uint64_t>()));
  }
  std::printf("store: %s, %llu blobs, %llu bytes, %llu actions\n", j["store"]["backend"].get<std::string>().c_str(),
              static_cast<unsigned long long>(j["store"]["blobs"].get<uint64_t>()),
              static_cast<unsigned long long>(j["store"]["bytes"].get<uint64_t>()),
              static_cast<unsigned long long>(j["store"]["actions"].get<uint64_t>()));
  auto& c = j["counters"];
  std::printf("since start: %llu dispatched, %llu cache hits (hit rate %.0f%%), %llu retries, %llu failed\n",
              static_cast<unsigned long long>(c["dispatched"].get<uint64_t>()),
              static_cast<unsigned long long>(c["cache_hits"].get<uint64_t>()), j["cache_hit_rate"].get<double>() * 100,
              static_cast<unsigned long long>(c["retries"].get<uint64_t>()),
              static_cast<unsigned long long>(c["failed"].get<uint64_t>()));
  return 0;
}

}  // namespace zbuild::client
