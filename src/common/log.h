// Logging without spdlog in the header: callers format with std::string and the .cc forwards
// to spdlog. Keeps spdlog's compile cost in one translation unit.
#pragma once

#include <string>

namespace zbuild::log {

enum class Level { debug, info, warn, error };

void init(const std::string& component, Level level);
void set_level(Level level);
bool enabled(Level level);
void write(Level level, const std::string& msg);

inline void debug(const std::string& m) { if (enabled(Level::debug)) write(Level::debug, m); }
inline void info(const std::string& m) { write(Level::info, m); }
inline void warn(const std::string& m) { write(Level::warn, m); }
inline void error(const std::string& m) { write(Level::error, m); }

}  // namespace zbuild::log
