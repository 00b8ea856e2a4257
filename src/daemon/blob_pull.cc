#include "daemon/blob_pull.h"

#include <algorithm>

namespace zbuild::daemon {

void BlobPull::offer(uint64_t build, const std::string& route, uint64_t rid, const std::vector<Digest>& digests) {
  for (auto& d : digests) {
    auto& ps = offers_[d];
    if (std::none_of(ps.begin(), ps.end(), [&](auto& p) { return p.build == build; })) ps.push_back({route, rid, build});
  }
}

bool BlobPull::hold(const Digest& d, Waiter w, std::optional<Provider>* ask) {
  auto o = offers_.find(d);
  if (o == offers_.end() || o->second.empty()) return false;
  auto& ws = waiting_[d];
  if (ws.empty() && ask && !asked_.count(d)) *ask = o->second.back();   // the newest build's client
  ws.push_back(std::move(w));
  return true;
}

bool BlobPull::offered_by(const Digest& d, const std::string& route) const {
  auto o = offers_.find(d);
  return o != offers_.end() && std::any_of(o->second.begin(), o->second.end(), [&](auto& p) { return p.route == route; });
}

std::vector<BlobPull::Waiter> BlobPull::release(const Digest& d) {
  asked_.erase(d);
  auto it = waiting_.find(d);
  if (it == waiting_.end()) return {};
  auto ws = std::move(it->second);
  waiting_.erase(it);
  return ws;
}

std::vector<std::pair<Digest, BlobPull::Waiter>> BlobPull::build_ended(uint64_t build) {
  std::vector<std::pair<Digest, Waiter>> out;
  for (auto it = offers_.begin(); it != offers_.end();) {
    auto& ps = it->second;
    ps.erase(std::remove_if(ps.begin(), ps.end(), [&](auto& p) { return p.build == build; }), ps.end());
    if (ps.empty()) {
      asked_.erase(it->first);
      for (auto& w : release(it->first)) out.emplace_back(it->first, std::move(w));
      it = offers_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace zbuild::daemon
