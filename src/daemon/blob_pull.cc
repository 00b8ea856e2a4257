#include "daemon/blob_pull.h"

#include <algorithm>
#include <iterator>

namespace zbuild::daemon {

void BlobPull::offer(uint64_t build, const std::string& route, uint64_t rid, const std::vector<Digest>& digests) {
  for (auto& d : digests) {
    auto& ps = offers_[d];
    if (std::none_of(ps.begin(), ps.end(), [&](auto& p) { return p.build == build; })) ps.push_back({route, rid, build});
  }
}

std::optional<BlobPull::Provider> BlobPull::provider(const Digest& d) const {
  auto o = offers_.find(d);
  if (o == offers_.end() || o->second.empty()) return std::nullopt;
  return o->second.back();
}

bool BlobPull::hold(const Digest& d, Waiter w, std::optional<Provider>* ask, int64_t now_ms) {
  auto p = provider(d);
  if (!p) return false;
  auto& h = waiting_[d];
  if (h.waiters.empty()) {
    h.since_ms = now_ms;
    if (ask && !asked_.count(d)) *ask = p;
  }
  h.waiters.push_back(std::move(w));
  return true;
}

void BlobPull::heard_from(const std::string& route, int64_t now_ms) { heard_[route] = now_ms; }

BlobPull::Stalled BlobPull::stalled(int64_t now_ms, int64_t stall_ms) {
  Stalled out;
  for (auto& [d, h] : waiting_) {
    auto p = provider(d);
    int64_t last = h.since_ms;
    if (p) {
      if (auto it = heard_.find(p->route); it != heard_.end()) last = std::max(last, it->second);
    }
    if (now_ms - last < stall_ms) continue;
    if (p && !h.asked_again) {
      h.asked_again = true;
      h.since_ms = now_ms;
      out.again.emplace_back(d, *p);
    } else {
      out.give_up.push_back(d);
    }
  }
  return out;
}

bool BlobPull::offered_by(const Digest& d, const std::string& route) const {
  auto o = offers_.find(d);
  return o != offers_.end() && std::any_of(o->second.begin(), o->second.end(), [&](auto& p) { return p.route == route; });
}

std::vector<BlobPull::Waiter> BlobPull::release(const Digest& d) {
  asked_.erase(d);
  auto it = waiting_.find(d);
  if (it == waiting_.end()) return {};
  auto ws = std::move(it->second.waiters);
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
  // Clients that offer nothing any more are forgotten.
  std::set<std::string> routes;
  for (auto& [_, ps] : offers_)
    for (auto& p : ps) routes.insert(p.route);
  for (auto it = heard_.begin(); it != heard_.end();) it = routes.count(it->first) ? std::next(it) : heard_.erase(it);
  return out;
}

}  // namespace zbuild::daemon
