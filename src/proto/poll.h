// zmq::poll that treats a signal's interruption (EINTR: SIGTERM, SIGHUP) as "nothing ready",
// so the caller's loop can look at its flags instead of dying on an exception.
#pragma once

#include <cerrno>
#include <chrono>
#include <zmq.hpp>

namespace zbuild::proto {

inline int poll_interruptible(zmq::pollitem_t* items, size_t n, std::chrono::milliseconds timeout) {
  try {
    return zmq::poll(items, n, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) {
      for (size_t i = 0; i < n; ++i) items[i].revents = 0;
      return 0;
    }
    throw;
  }
}

}  // namespace zbuild::proto
