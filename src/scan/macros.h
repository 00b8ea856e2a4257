// The macro table of an include scan and the evaluation of #if conditions over it, in three
// values: true, false, or maybe (the scan cannot tell: a macro defined only on a path it could
// not decide, or __has_builtin and its kin, which only the compiler knows). A scan takes every
// branch that may be taken, so what it finds is a superset of what the compiler reads.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scan/directives.h"

namespace zbuild::scan {

enum class Tri : uint8_t { False, True, Maybe };
Tri tri_and(Tri a, Tri b);
Tri tri_or(Tri a, Tri b);
Tri tri_not(Tri a);

struct Macro {
  bool function = false;
  bool variadic = false;
  std::vector<std::string> params;
  std::vector<Token> body;
};

class MacroTable {
 public:
  enum class State : uint8_t { Undefined, Defined, Unknown };
  MacroTable() = default;
  // A table over `base` (the compiler's predefined macros, shared by every scan with the same
  // facts): lookups fall through to it, changes stay here.
  explicit MacroTable(std::shared_ptr<const MacroTable> base) : base_(std::move(base)) { map_.reserve(2048); }
  // Moved, not copied: the keys view the table's own texts.
  MacroTable(MacroTable&&) = default;
  MacroTable& operator=(MacroTable&&) = default;
  MacroTable(const MacroTable&) = delete;
  MacroTable& operator=(const MacroTable&) = delete;
  // `text` is a #define's rest: "NAME body" or "NAME(params) body". `certain`: on a path the
  // scan knows is taken; else the macro's state becomes unknown. False when `text` is malformed.
  // `stable`: `text` outlives the table, which then views it rather than keeping a copy.
  bool define(std::string_view text, bool certain, bool stable = false);
  void undef(std::string_view text, bool certain);
  State state(std::string_view name) const;
  // What `defined NAME` / #ifdef says: state(), except for the compiler's own operators
  // (__has_include is defined; __has_feature may or may not be).
  State defined(std::string_view name) const;
  const Macro* get(std::string_view name) const;   // Defined only
  // Bodies of the macros defined from now on are tokenized when get() first asks for them, not
  // when defined: a scan defines thousands of macros and expands few. get() then changes the
  // table, so a table several threads read is only ever a base: a table over it tokenizes the
  // base's lazy bodies into its own copies and leaves the base as it is.
  void set_lazy_bodies(bool lazy) { lazy_ = lazy; }

 private:
  struct Entry {
    State state = State::Undefined;
    bool body_pending = false;     // lazy: body_text is not yet tokenized into macro->body
    std::string_view body_text;    // lazy: the body (in texts_)
    std::unique_ptr<Macro> macro;  // Defined: made when defined (function-like, or not lazy) or first asked for
  };
  const Entry* entry(std::string_view name) const;   // here or in the base; changes nothing
  // This table's entry for `name`, made if missing (keyed by a copy, or by `name` if `stable`).
  Entry& slot(std::string_view name, bool stable = false) const;
  std::string_view keep(std::string_view s) const;    // a copy of `s` in texts_
  // Names (the keys) and lazy bodies live in texts_, chunks that never move: a scan defines
  // thousands of macros, and a heap string for each name and body cost more than the scan's
  // lookups. Freed with the table.
  mutable std::unordered_map<std::string_view, Entry> map_;
  struct Chunk {
    std::unique_ptr<char[]> bytes;
    size_t size = 0, used = 0;
  };
  mutable std::vector<Chunk> texts_;
  std::shared_ptr<const MacroTable> base_;
  bool lazy_ = false;
};

// What an expression needs besides macros: whether it is C++ (true/false), and the answer of
// __has_include / __has_include_next for a header name ("<x>" or "\"x\"").
struct EvalContext {
  const MacroTable* macros = nullptr;
  bool cplusplus = false;
  std::function<bool(const std::string& header, bool next)> has_include;
};

// An #if / #elif condition.
Tri eval_condition(std::string_view text, const EvalContext& cx);

// A computed #include's operand after macro expansion ("<x>" or "\"x\""), nullopt when it
// cannot be told.
std::optional<std::string> expand_include_operand(std::string_view text, const EvalContext& cx);

}  // namespace zbuild::scan
