#include "daemon/estimator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string_view>

#include "common/command_policy.h"

namespace zbuild::daemon {

namespace {

std::string_view base_name(std::string_view p) {
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// What an output's name says of the command that writes it, if anything.
std::optional<TaskKind> kind_of_output(std::string_view path) {
  std::string_view base = base_name(path);
  if (ends_with(base, ".o") || ends_with(base, ".obj")) return TaskKind::Compile;
  if (ends_with(base, ".a") || ends_with(base, ".lib")) return TaskKind::Archive;
  if (ends_with(base, ".so") || base.find(".so.") != std::string_view::npos || ends_with(base, ".dylib") ||
      ends_with(base, ".dll") || ends_with(base, ".exe") || base.find('.') == std::string_view::npos) {
    return TaskKind::Link;
  }
  return std::nullopt;
}

}  // namespace

const char* kind_name(TaskKind k) {
  switch (k) {
    case TaskKind::Compile: return "compile";
    case TaskKind::Archive: return "archive";
    case TaskKind::Link: return "link";
    case TaskKind::Other: return "other";
  }
  return "?";
}

TaskKind task_kind(const ActionSpec& a) {
  if (a.argv.empty()) return TaskKind::Other;
  std::string_view tool = base_name(a.argv[0]);
  if (cmd::is_compile(a.argv)) return TaskKind::Compile;
  if (tool == "ar" || tool == "ranlib" || ends_with(tool, "-ar") || ends_with(tool, "-ranlib")) return TaskKind::Archive;
  if (cmd::is_c_compiler(a.argv[0]) || tool == "ld" || tool.starts_with("ld.")) return TaskKind::Link;
  // Any other program (a script, a wrapper): the first output that names a kind decides.
  for (auto& o : a.outputs) {
    if (auto k = kind_of_output(o)) return *k;
  }
  return TaskKind::Other;
}

uint64_t source_bytes(const ActionSpec& a) {
  uint64_t n = 0;
  for (auto& in : a.inputs) {
    if (!in.producer) n += in.digest.size;
  }
  return n;
}

int64_t Estimator::prior_ms(TaskKind k) {
  switch (k) {
    case TaskKind::Compile: return 1000;
    case TaskKind::Archive: return 500;
    case TaskKind::Link: return 2000;
    case TaskKind::Other: return 500;
  }
  return 500;
}

void Estimator::seed(TaskKind k, double mean_bytes) {
  Kind& kind = kinds_[static_cast<size_t>(k)];
  if (kind.real.n > 0 || kind.prior.n > 0) return;
  double ms = static_cast<double>(prior_ms(k));
  kind.prior.n = kPriorWeight;
  kind.prior.ms = ms * kPriorWeight;
  if (mean_bytes > 0) {
    kind.prior.sized_ms = ms * kPriorWeight;
    kind.prior.bytes = mean_bytes * kPriorWeight;
  }
}

void Estimator::cap(Sums& s) {
  if (s.n <= kMaxWeight) return;
  double f = kMaxWeight / s.n;
  s.n *= f;
  s.ms *= f;
  s.sized_ms *= f;
  s.bytes *= f;
}

void Estimator::observe(TaskKind k, uint64_t bytes, int64_t ms) {
  Sums& s = kinds_[static_cast<size_t>(k)].real;
  double m = static_cast<double>(std::max<int64_t>(ms, 1));
  s.n += 1;
  s.ms += m;
  if (bytes > 0) {
    s.sized_ms += m;
    s.bytes += static_cast<double>(bytes);
  }
  cap(s);
}

Estimator::Model Estimator::model(TaskKind k) const {
  const Kind& kind = kinds_[static_cast<size_t>(k)];
  double n = kind.real.n + kind.prior.n, ms = kind.real.ms + kind.prior.ms;
  double sized_ms = kind.real.sized_ms + kind.prior.sized_ms, bytes = kind.real.bytes + kind.prior.bytes;
  Model m;
  m.mean = n > 0 ? ms / n : static_cast<double>(prior_ms(k));
  m.rate = bytes > 0 ? sized_ms / bytes : 0;
  return m;
}

int64_t Estimator::estimate(TaskKind k, uint64_t bytes) const {
  Model m = model(k);
  double ms = bytes > 0 && m.rate > 0 ? m.rate * static_cast<double>(bytes) : m.mean;
  return std::max<int64_t>(1, std::llround(std::min(ms, 1e12)));
}

std::string Estimator::store_key(TaskKind k) {
  return "sched-est:v" + std::to_string(kStoreVersion) + ":" + kind_name(k);
}

std::string Estimator::serialize(TaskKind k) const {
  const Sums& s = kinds_[static_cast<size_t>(k)].real;   // the prior is what a fresh daemon assumes anyway
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.9g %.9g %.9g %.9g", s.n, s.ms, s.sized_ms, s.bytes);
  return buf;
}

bool Estimator::restore(TaskKind k, const std::string& text) {
  std::istringstream in(text);
  Sums s;
  if (!(in >> s.n >> s.ms >> s.sized_ms >> s.bytes)) return false;
  std::string rest;
  if (in >> rest) return false;
  auto ok = [](double v) { return std::isfinite(v) && v >= 0; };
  if (!ok(s.n) || !ok(s.ms) || !ok(s.sized_ms) || !ok(s.bytes) || s.n <= 0 || s.sized_ms > s.ms) return false;
  if (s.bytes == 0) s.sized_ms = 0;
  cap(s);
  kinds_[static_cast<size_t>(k)] = Kind{s, Sums{}};
  return true;
}

}  // namespace zbuild::daemon
