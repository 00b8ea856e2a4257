// Cross-task checks of a parsed graph (ids, deps, outputs, inputs, cycles) and the
// topological order. Everything is iterative so a 10,000-task chain costs no stack.
#include "graph/validate.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "common/command_policy.h"

namespace zbuild::graph {

namespace detail {

namespace {

// Finds a dependency cycle with an iterative depth-first search. Returns the ids along the
// cycle as "a -> b -> c -> a" (each arrow reads "depends on"), or "" when there is none.
std::string find_cycle(const Graph& g) {
  const size_t n = g.tasks.size();
  enum : unsigned char { kWhite, kGrey, kBlack };
  std::vector<unsigned char> colour(n, kWhite);
  struct Frame {
    size_t node;
    size_t next;  // next entry of dep_index to visit
  };
  std::vector<Frame> stack;
  for (size_t start = 0; start < n; ++start) {
    if (colour[start] != kWhite) continue;
    colour[start] = kGrey;
    stack.push_back({start, 0});
    while (!stack.empty()) {
      Frame& f = stack.back();
      const auto& deps = g.tasks[f.node].dep_index;
      if (f.next == deps.size()) {
        colour[f.node] = kBlack;
        stack.pop_back();
        continue;
      }
      size_t d = deps[f.next++];
      if (colour[d] == kWhite) {
        colour[d] = kGrey;
        stack.push_back({d, 0});  // invalidates f; not used again in this iteration
      } else if (colour[d] == kGrey) {
        size_t k = stack.size();
        while (k > 0 && stack[k - 1].node != d) --k;
        std::string out;
        for (size_t i = k - 1; i < stack.size(); ++i) {
          out += g.tasks[stack[i].node].id;
          out += " -> ";
        }
        out += g.tasks[d].id;
        return out;
      }
    }
  }
  return {};
}

}  // namespace

Status validate_graph(Graph& g, const std::string& source_name, bool check_inputs) {
  const size_t n = g.tasks.size();
  const std::string& src = source_name;

  std::unordered_map<std::string, size_t> by_id;
  by_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto [it, fresh] = by_id.emplace(g.tasks[i].id, i);
    if (!fresh) {
      return make_error(src + ": task '" + g.tasks[i].id + "' (#" + std::to_string(i + 1) +
                        "): duplicate id (task #" + std::to_string(it->second + 1) +
                        " has the same id)");
    }
  }

  // A task's environment reaches its command on a worker and the client's header scan: a
  // variable that makes the loader or an interpreter run other code is refused here, before
  // anything is contacted (the worker refuses it too).
  for (size_t i = 0; i < n; ++i) {
    std::vector<std::string> env;
    env.reserve(g.tasks[i].env.size());
    for (const auto& [k, v] : g.tasks[i].env) env.push_back(k + "=" + v);
    if (auto st = cmd::check_env(env); !st.ok()) {
      return make_error(src + ": task '" + g.tasks[i].id + "': " + st.error().message);
    }
  }

  g.output_owner.clear();
  for (size_t i = 0; i < n; ++i) {
    for (const auto& o : g.tasks[i].outputs) {
      auto [it, fresh] = g.output_owner.emplace(o, i);
      if (!fresh && it->second != i) {
        return make_error(src + ": tasks '" + g.tasks[it->second].id + "' and '" + g.tasks[i].id +
                          "' both write '" + o + "'");
      }
    }
  }

  for (size_t i = 0; i < n; ++i) {
    Task& t = g.tasks[i];
    t.dep_index.clear();
    for (const auto& d : t.deps) {
      auto it = by_id.find(d);
      if (it == by_id.end()) {
        return make_error(src + ": task '" + t.id + "' depends on unknown task '" + d + "'");
      }
      if (it->second == i) return make_error(src + ": task '" + t.id + "' depends on itself");
      t.dep_index.push_back(it->second);
    }
    for (const auto& in : t.inputs) {
      auto it = g.output_owner.find(in);
      if (it != g.output_owner.end()) {
        if (it->second == i) {
          return make_error(src + ": task '" + t.id + "': '" + in + "' is both an input and an output");
        }
        t.dep_index.push_back(it->second);
      } else if (check_inputs) {
        std::error_code ec;
        if (!std::filesystem::exists(g.root / in, ec)) {
          return make_error(src + ": task '" + t.id + "': input '" + in + "' does not exist under " +
                            g.root.string() + " and no task produces it");
        }
      }
    }
    std::sort(t.dep_index.begin(), t.dep_index.end());
    t.dep_index.erase(std::unique(t.dep_index.begin(), t.dep_index.end()), t.dep_index.end());
  }

  if (auto cycle = find_cycle(g); !cycle.empty()) {
    return make_error(src + ": dependency cycle: " + cycle);
  }
  return {};
}

}  // namespace detail

std::vector<size_t> topological_order(const Graph& g) {
  // Kahn's algorithm; among ready tasks the one listed first in the file goes first.
  const size_t n = g.tasks.size();
  std::vector<size_t> missing(n);
  std::vector<std::vector<size_t>> dependents(n);
  for (size_t i = 0; i < n; ++i) {
    missing[i] = g.tasks[i].dep_index.size();
    for (size_t d : g.tasks[i].dep_index) dependents[d].push_back(i);
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < n; ++i) {
    if (missing[i] == 0) ready.push(i);
  }
  std::vector<size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t d : dependents[i]) {
      if (--missing[d] == 0) ready.push(d);
    }
  }
  return order;
}

}  // namespace zbuild::graph
