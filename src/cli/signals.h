// SIGINT/SIGTERM set a flag that long-running loops poll.
#pragma once

#include <atomic>

namespace zbuild::cli {

const std::atomic<bool>& install_stop_signals();

}  // namespace zbuild::cli
