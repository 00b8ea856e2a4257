#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "common/clock.h"

namespace zbuild {

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace log {

namespace {
std::shared_ptr<spdlog::logger> g_logger;
Level g_level = Level::info;

spdlog::level::level_enum to_spd(Level l) {
  switch (l) {
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

spdlog::logger& logger() {
  if (!g_logger) init("zbuild", g_level);
  return *g_logger;
}
}  // namespace

void init(const std::string& component, Level level) {
  static int counter = 0;
  g_logger = spdlog::stderr_color_mt(component + "#" + std::to_string(counter++));
  g_logger->set_pattern("%H:%M:%S.%e " + component + " %^%l%$ %v");
  set_level(level);
  g_logger->flush_on(spdlog::level::info);
}

void set_level(Level level) {
  g_level = level;
  if (g_logger) g_logger->set_level(to_spd(level));
}

bool enabled(Level level) { return level >= g_level; }

void write(Level level, const std::string& msg) {
  if (!enabled(level)) return;
  logger().log(to_spd(level), fmt::runtime("{}"), msg);
}

}  // namespace log
}  // namespace zbuild
