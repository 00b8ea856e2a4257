// SIGINT/SIGTERM set a flag that long-running loops poll.
#pragma once

#include <atomic>

namespace zbuild::cli {

const std::atomic<bool>& install_stop_signals();
// SIGHUP sets the returned flag (the daemon re-reads its allow-lists and clears it).
std::atomic<bool>* install_reload_signal();

}  // namespace zbuild::cli
