// Stand-in for redis_store.cc when zbuild is configured without hiredis (-Dredis=disabled).
#include "store/store.h"

namespace zbuild::store {

Result<std::unique_ptr<Store>> open_redis_store(const std::string& url) {
  return make_error(url + ": this zbuild was built without hiredis (no Redis store backend)");
}

}  // namespace zbuild::store
