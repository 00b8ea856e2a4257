#include "scan/macros.h"

#include <algorithm>
#include <memory>
#include <cstring>

namespace zbuild::scan {

Tri tri_and(Tri a, Tri b) {
  if (a == Tri::False || b == Tri::False) return Tri::False;
  return a == Tri::True && b == Tri::True ? Tri::True : Tri::Maybe;
}
Tri tri_or(Tri a, Tri b) {
  if (a == Tri::True || b == Tri::True) return Tri::True;
  return a == Tri::False && b == Tri::False ? Tri::False : Tri::Maybe;
}
Tri tri_not(Tri a) { return a == Tri::Maybe ? Tri::Maybe : a == Tri::True ? Tri::False : Tri::True; }

namespace {

bool is_punct(const Token& t, std::string_view p) {
  return t.kind == TokKind::Punct && t.text.size() == p.size() && (p.size() == 1 ? t.text[0] == p[0] : t.text == p);
}

// The name a #define or #undef names, and where it ends.
size_t name_end(std::string_view text) {
  size_t e = 0;
  while (e < text.size() && (std::isalnum(static_cast<unsigned char>(text[e])) || text[e] == '_' || text[e] == '$')) ++e;
  return e;
}

// A macro's replacement list: its tokens, the first without the space that separates it from
// the name.
std::vector<Token> body_tokens(std::string_view text) {
  auto body = tokenize(text);
  if (!body.empty()) body[0].space_before = false;
  return body;
}

}  // namespace

std::string_view MacroTable::keep(std::string_view s) const {
  constexpr size_t kChunk = 32 * 1024;
  if (texts_.empty() || texts_.back().size - texts_.back().used < s.size()) {
    size_t n = std::max(kChunk, s.size());
    texts_.push_back(Chunk{std::unique_ptr<char[]>(new char[n]), n, 0});
  }
  Chunk& c = texts_.back();
  char* at = c.bytes.get() + c.used;
  if (!s.empty()) std::memcpy(at, s.data(), s.size());
  c.used += s.size();
  return {at, s.size()};
}

MacroTable::Entry& MacroTable::slot(std::string_view name, bool stable) const {
  auto it = map_.find(name);
  if (it != map_.end()) return it->second;
  return map_.emplace(stable ? name : keep(name), Entry{}).first->second;
}

bool MacroTable::define(std::string_view text, bool certain, bool stable) {
  size_t e = name_end(text);
  if (e == 0 || std::isdigit(static_cast<unsigned char>(text[0]))) return false;
  // The body's tokens view its text: a copy the table keeps.
  if (certain && !stable) text = keep(text);
  std::string_view name = text.substr(0, e);
  if (!certain) {
    slot(name, stable) = Entry{State::Unknown, false, {}, nullptr};
    return true;
  }
  // An object-like macro defined lazily gets its Macro when first expanded (most never are).
  std::unique_ptr<Macro> m;
  std::string_view rest = text.substr(e);
  if (!rest.empty() && rest[0] == '(') {
    m = std::make_unique<Macro>();
    m->function = true;
    size_t close = rest.find(')');
    if (close == std::string_view::npos) return false;
    auto toks = tokenize(rest.substr(1, close - 1));
    for (size_t k = 0; k < toks.size(); ++k) {
      if (toks[k].kind == TokKind::Ident) {
        m->params.emplace_back(toks[k].text);
        if (k + 1 < toks.size() && is_punct(toks[k + 1], "...")) {   // "args...": a named variadic parameter
          m->variadic = true;
          ++k;
        }
      } else if (is_punct(toks[k], "...")) {
        m->variadic = true;
        m->params.push_back("__VA_ARGS__");
      } else if (!is_punct(toks[k], ",")) {
        return false;
      }
    }
    rest = rest.substr(close + 1);
  }
  if (lazy_) {
    slot(name, stable) = Entry{State::Defined, true, rest, std::move(m)};
    return true;
  }
  if (!m) m = std::make_unique<Macro>();
  m->body = body_tokens(rest);
  slot(name, stable) = Entry{State::Defined, false, {}, std::move(m)};
  return true;
}

void MacroTable::undef(std::string_view text, bool certain) {
  size_t e = name_end(text);
  if (e == 0) return;
  std::string_view name = text.substr(0, e);
  if (certain && !base_) map_.erase(name);
  else slot(name) = Entry{certain ? State::Undefined : State::Unknown, false, {}, nullptr};
}

namespace {
// Every name the compiler answers itself starts with "__" (tested first: an #if meets many names).
bool reserved(std::string_view n) { return n.size() > 2 && n[0] == '_' && n[1] == '_'; }
bool query_builtin(std::string_view n) {
  return reserved(n) &&
         (n.starts_with("__has_") || n == "__is_identifier" || n == "__building_module" || n.starts_with("__is_target_"));
}
}  // namespace

MacroTable::State MacroTable::defined(std::string_view name) const {
  // gcc (10 and later) and clang both answer these operators to `defined`; others vary.
  std::string_view n = name;
  if (reserved(n) && (n == "__has_include" || n == "__has_include_next" || n == "__has_attribute" ||
                      n == "__has_cpp_attribute" || n == "__has_builtin"))
    return State::Defined;
  State s = state(name);
  return s == State::Undefined && query_builtin(name) ? State::Unknown : s;
}

MacroTable::State MacroTable::state(std::string_view name) const {
  auto it = map_.find(name);
  if (it != map_.end()) return it->second.state;
  return base_ ? base_->state(name) : State::Undefined;
}

const MacroTable::Entry* MacroTable::entry(std::string_view name) const {
  auto it = map_.find(name);
  if (it != map_.end()) return &it->second;
  return base_ ? base_->entry(name) : nullptr;
}

const Macro* MacroTable::get(std::string_view name) const {
  auto it = map_.find(name);
  if (it == map_.end()) {
    const Entry* b = base_ ? base_->entry(name) : nullptr;
    if (!b || b->state != State::Defined) return nullptr;
    if (!b->body_pending) return b->macro.get();
    // A lazy body in the base (shared by scans on other threads, never changed once built) is
    // tokenized into this table's own copy of the macro.
    Entry& e = slot(name) = Entry{State::Defined, false, {}, b->macro ? std::make_unique<Macro>(*b->macro) : std::make_unique<Macro>()};
    e.macro->body = body_tokens(b->body_text);
    return e.macro.get();
  }
  Entry& e = it->second;
  if (e.state != State::Defined) return nullptr;
  if (e.body_pending) {
    if (!e.macro) e.macro = std::make_unique<Macro>();
    e.macro->body = body_tokens(e.body_text);
    e.body_text = {};
    e.body_pending = false;
  }
  return e.macro.get();
}

namespace {

// The macros a token came out of (its hide set: they are not expanded again in it), as chains
// of nodes in one arena per evaluation: a token carries an index, and joining a set costs no
// allocation per token. A macro is named by its definition (the table does not change while
// a condition is evaluated), node 0 is the empty set.
class HideSets {
 public:
  using Set = uint32_t;
  bool has(Set s, const Macro* m) const {
    for (; s != 0; s = nodes_[s].rest)
      if (nodes_[s].macro == m) return true;
    return false;
  }
  Set with(Set s, const Macro* m) {
    nodes_.push_back({m, s});
    return static_cast<Set>(nodes_.size() - 1);
  }
  // `into` and every macro of `from` it does not have.
  Set join(Set into, Set from) {
    Set r = into;
    for (; from != 0; from = nodes_[from].rest)
      if (!has(into, nodes_[from].macro)) r = with(r, nodes_[from].macro);
    return r;
  }

 private:
  struct Node {
    const Macro* macro;
    Set rest;
  };
  std::vector<Node> nodes_{Node{nullptr, 0}};
};

struct PTok {
  Token t;
  HideSets::Set hide = 0;
};

const Token kUnknown{TokKind::Number, false, "?"};

// Texts an evaluation makes (a stringized argument, two pasted spellings) for its tokens to
// view: kept until the evaluation ends. Most evaluations make none.
class MadeTexts {
 public:
  std::string_view add(std::string s) {
    texts_.push_back(std::make_unique<std::string>(std::move(s)));
    return *texts_.back();
  }

 private:
  std::vector<std::unique_ptr<std::string>> texts_;   // empty (no allocation) in most evaluations
};

class Expander {
 public:
  Expander(const EvalContext& cx, bool in_if, HideSets& hides, MadeTexts& made)
      : cx_(cx), in_if_(in_if), hides_(hides), made_(made) {}
  bool unknown = false;

  std::vector<PTok> run(std::vector<PTok> input) {
    std::vector<PTok> out;
    out.reserve(input.size() + 8);
    std::vector<PTok> st(std::make_move_iterator(input.rbegin()), std::make_move_iterator(input.rend()));
    while (!st.empty()) {
      if (--budget_ < 0 || unknown) {
        unknown = true;
        return out;
      }
      PTok p = std::move(st.back());
      st.pop_back();
      if (p.t.kind != TokKind::Ident) {
        out.push_back(std::move(p));
        continue;
      }
      const std::string_view name = p.t.text;
      if (in_if_ && std::string_view(name) == "defined") {
        bool paren = !st.empty() && is_punct(st.back().t, "(");
        if (paren) st.pop_back();
        if (st.empty() || st.back().t.kind != TokKind::Ident) return fail(out);
        std::string_view id = st.back().t.text;
        st.pop_back();
        if (paren) {
          if (st.empty() || !is_punct(st.back().t, ")")) return fail(out);
          st.pop_back();
        }
        auto s = cx_.macros->defined(id);
        out.push_back(PTok{s == MacroTable::State::Unknown ? kUnknown
                                                          : Token{TokKind::Number, false, s == MacroTable::State::Defined ? "1" : "0"},
                           {}});
        continue;
      }
      std::string_view n = name;
      if (in_if_ && reserved(n) &&
          (n == "__has_include" || n == "__has_include_next" || n == "__has_include__" || n == "__has_include_next__")) {
        auto args = balanced(st);
        if (!args) return fail(out);
        std::string header;
        if (!args->empty() && (*args)[0].t.kind == TokKind::String) {
          header = (*args)[0].t.text;
        } else if (!args->empty() && is_punct((*args)[0].t, "<")) {
          for (auto& a : *args) {
            if (!header.empty() && a.t.space_before) header += ' ';
            header += a.t.text;
            if (is_punct(a.t, ">")) break;
          }
        }
        if (header.size() < 3 || !cx_.has_include) {
          out.push_back(PTok{kUnknown, {}});
        } else {
          bool next = name.starts_with("__has_include_next");
          out.push_back(PTok{Token{TokKind::Number, false, cx_.has_include(header, next) ? "1" : "0"}, {}});
        }
        continue;
      }
      if (in_if_ && query_builtin(name)) {
        if (!st.empty() && is_punct(st.back().t, "(") && !balanced(st)) return fail(out);
        out.push_back(PTok{kUnknown, {}});
        continue;
      }
      auto s = cx_.macros->state(name);
      if (s == MacroTable::State::Undefined) {
        out.push_back(std::move(p));
        continue;
      }
      if (s == MacroTable::State::Unknown) {
        if (!st.empty() && is_punct(st.back().t, "(") && !balanced(st)) return fail(out);
        out.push_back(PTok{kUnknown, {}});
        continue;
      }
      const Macro& m = *cx_.macros->get(name);
      if (hides_.has(p.hide, &m)) {   // within its own expansion: left as it is
        out.push_back(std::move(p));
        continue;
      }
      const HideSets::Set hide = hides_.with(p.hide, &m);
      std::vector<PTok> result;
      if (!m.function) {
        result.reserve(m.body.size());
        for (auto& t : m.body) result.push_back(PTok{t, hide});
        result = paste(std::move(result));
      } else {
        if (st.empty() || !is_punct(st.back().t, "(")) {
          out.push_back(std::move(p));
          continue;
        }
        auto args = arguments(st, m);
        if (!args) return fail(out);
        result = substitute(m, *args, hide);
      }
      if (unknown) return out;
      for (auto it = result.rbegin(); it != result.rend(); ++it) st.push_back(std::move(*it));
    }
    return out;
  }

 private:
  std::vector<PTok> fail(std::vector<PTok>& out) {
    unknown = true;
    return std::move(out);
  }

  // The tokens between a '(' (next on the stack) and its ')', both taken off.
  std::optional<std::vector<PTok>> balanced(std::vector<PTok>& st) {
    if (st.empty() || !is_punct(st.back().t, "(")) return std::nullopt;
    st.pop_back();
    std::vector<PTok> in;
    int depth = 1;
    while (!st.empty()) {
      PTok p = std::move(st.back());
      st.pop_back();
      if (is_punct(p.t, "(")) ++depth;
      if (is_punct(p.t, ")") && --depth == 0) return in;
      in.push_back(std::move(p));
    }
    return std::nullopt;
  }

  std::optional<std::vector<std::vector<PTok>>> arguments(std::vector<PTok>& st, const Macro& m) {
    auto in = balanced(st);
    if (!in) return std::nullopt;
    std::vector<std::vector<PTok>> args(1);
    int depth = 0;
    for (auto& p : *in) {
      if (is_punct(p.t, "(")) ++depth;
      if (is_punct(p.t, ")")) --depth;
      bool last_is_variadic = m.variadic && args.size() == m.params.size();
      if (depth == 0 && is_punct(p.t, ",") && !last_is_variadic) {
        args.emplace_back();
        continue;
      }
      args.back().push_back(std::move(p));
    }
    if (m.params.empty() && args.size() == 1 && args[0].empty()) args.clear();
    if (m.variadic && args.size() + 1 == m.params.size()) args.emplace_back();   // F(a) for F(x, ...)
    if (args.size() != m.params.size()) return std::nullopt;
    return args;
  }

  std::vector<PTok> substitute(const Macro& m, const std::vector<std::vector<PTok>>& args,
                               HideSets::Set hide) {
    auto param = [&](const Token& t) -> int {
      if (t.kind != TokKind::Ident) return -1;
      for (size_t k = 0; k < m.params.size(); ++k)
        if (m.params[k] == t.text) return static_cast<int>(k);
      return -1;
    };
    std::vector<PTok> out;
    const auto& b = m.body;
    for (size_t j = 0; j < b.size(); ++j) {
      if (is_punct(b[j], "#") && j + 1 < b.size() && param(b[j + 1]) >= 0) {
        std::string s = "\"";
        for (auto& a : args[param(b[j + 1])]) {
          if (s.size() > 1 && a.t.space_before) s += ' ';
          for (char c : a.t.text) {
            if ((c == '"' || c == '\\') && (a.t.kind == TokKind::String || a.t.kind == TokKind::Char)) s += '\\';
            s += c;
          }
        }
        s += '"';
        out.push_back(PTok{Token{TokKind::String, b[j].space_before, made_.add(std::move(s))}, hide});
        ++j;
        continue;
      }
      int k = param(b[j]);
      if (k < 0) {
        out.push_back(PTok{b[j], hide});
        continue;
      }
      bool pasted = (j + 1 < b.size() && is_punct(b[j + 1], "##")) || (j > 0 && is_punct(b[j - 1], "##"));
      std::vector<PTok> arg = args[k];
      if (!pasted) {
        if (depth_ >= kMaxDepth) {   // F(F(F(...))) nested past any real header: cannot tell
          unknown = true;
          return out;
        }
        Expander sub(cx_, in_if_, hides_, made_);
        sub.budget_ = budget_;
        sub.depth_ = depth_ + 1;
        arg = sub.run(std::move(arg));
        budget_ = sub.budget_;
        if (sub.unknown) unknown = true;
      }
      if (arg.empty() && pasted) {
        out.push_back(PTok{Token{TokKind::Punct, false, ""}, hide});   // placemarker
        continue;
      }
      for (size_t n = 0; n < arg.size(); ++n) {
        PTok t = arg[n];
        if (n == 0) t.t.space_before = b[j].space_before;
        t.hide = hides_.join(t.hide, hide);
        out.push_back(std::move(t));
      }
    }
    return paste(std::move(out));
  }

  // a ## b: the spellings joined and read again as one token.
  std::vector<PTok> paste(std::vector<PTok> in) {
    // Most replacement lists join nothing (and a placemarker is only ever made next to a ##).
    if (std::none_of(in.begin(), in.end(), [](const PTok& p) { return is_punct(p.t, "##"); })) return in;
    std::vector<PTok> out;
    out.reserve(in.size());
    for (size_t j = 0; j < in.size(); ++j) {
      if (is_punct(in[j].t, "##") && !out.empty() && j + 1 < in.size()) {
        std::string_view joined = made_.add(std::string(out.back().t.text) + std::string(in[j + 1].t.text));
        auto toks = tokenize(joined);
        if (toks.size() > 1) unknown = true;
        if (toks.empty()) out.pop_back();
        else {
          toks[0].space_before = out.back().t.space_before;
          out.back().t = toks[0];
        }
        ++j;
        continue;
      }
      out.push_back(std::move(in[j]));
    }
    out.erase(std::remove_if(out.begin(), out.end(), [](const PTok& p) { return p.t.kind == TokKind::Punct && p.t.text.empty(); }),
              out.end());
    return out;
  }

  static constexpr int kMaxDepth = 200;
  const EvalContext& cx_;
  bool in_if_;
  HideSets& hides_;
  MadeTexts& made_;
  int budget_ = 20000;   // tokens taken off the stack, in all: expansion that explodes is unknown
  int depth_ = 0;        // nesting of argument expansions
};

struct Val {
  bool known = true;
  uint64_t v = 0;
  bool uns = false;
};

class Parser {
 public:
  Parser(const std::vector<PTok>& t, bool cpp) : t_(t), cpp_(cpp) {}
  bool bad = false;

  Val parse() {
    Val v = comma();
    if (i_ != t_.size()) bad = true;
    return v;
  }

 private:
  // Nesting (parentheses, unary operators) deeper than any real condition: the expression is bad
  // (maybe), not a stack overflow.
  struct Nest {
    Parser& p;
    explicit Nest(Parser& q) : p(q) {
      if (++p.depth_ > 256) p.bad = true;
    }
    ~Nest() { --p.depth_; }
  };

  const Token* peek() const { return i_ < t_.size() ? &t_[i_].t : nullptr; }
  bool accept(std::string_view p) {
    if (peek() && is_punct(*peek(), p)) {
      ++i_;
      return true;
    }
    return false;
  }

  Val comma() {
    Val v = conditional();
    while (accept(",")) v = conditional();
    return v;
  }

  Val conditional() {
    Nest nest(*this);
    if (bad) return Val{false, 0, false};
    Val c = binary(0);
    if (!accept("?")) return c;
    Val a = comma();
    if (!accept(":")) bad = true;
    Val b = conditional();
    bool uns = a.uns || b.uns;
    if (c.known) {
      Val r = c.v ? a : b;
      r.uns = uns;
      return r;
    }
    if (a.known && b.known && a.v == b.v) return Val{true, a.v, uns};
    return Val{false, 0, uns};
  }

  // The binary operators' precedence: || 1, && 2, | 3, ^ 4, & 5, == != 6, < > <= >= 7, << >> 8,
  // + - 9, * / % 10; -1 for any other token.
  static int prec(const Token& t) {
    if (t.kind != TokKind::Punct || t.text.empty() || t.text.size() > 2) return -1;
    char a = t.text[0], b = t.text.size() == 2 ? t.text[1] : '\0';
    switch (a) {
      case '|': return b == '|' ? 1 : b ? -1 : 3;
      case '&': return b == '&' ? 2 : b ? -1 : 5;
      case '^': return b ? -1 : 4;
      case '=':
      case '!': return b == '=' ? 6 : -1;
      case '<':
      case '>': return b == a ? 8 : b == '=' || !b ? 7 : -1;
      case '+':
      case '-': return b ? -1 : 9;
      case '*':
      case '/':
      case '%': return b ? -1 : 10;
      default: return -1;
    }
  }

  Val binary(int min) {
    Val l = unary();
    for (;;) {
      const Token* op = peek();
      int p = op ? prec(*op) : -1;
      if (p < 0 || p < min || p == 0) return l;
      std::string_view o = op->text;   // t_ outlives the parse
      ++i_;
      Val r = binary(p + 1);
      l = apply(o, l, r);
    }
  }

  Val apply(std::string_view o, Val l, Val r) {
    if (o == "&&") {
      if ((l.known && !l.v) || (r.known && !r.v)) return Val{true, 0, false};
      if (l.known && r.known) return Val{true, 1, false};
      return Val{false, 0, false};
    }
    if (o == "||") {
      if ((l.known && l.v) || (r.known && r.v)) return Val{true, 1, false};
      if (l.known && r.known) return Val{true, 0, false};
      return Val{false, 0, false};
    }
    bool uns = l.uns || r.uns;
    if (!l.known || !r.known) return Val{false, 0, uns};
    auto s = [](uint64_t x) { return static_cast<int64_t>(x); };
    auto b = [](bool x) { return Val{true, x ? 1u : 0u, false}; };
    if (o == "==") return b(l.v == r.v);
    if (o == "!=") return b(l.v != r.v);
    if (o == "<") return b(uns ? l.v < r.v : s(l.v) < s(r.v));
    if (o == ">") return b(uns ? l.v > r.v : s(l.v) > s(r.v));
    if (o == "<=") return b(uns ? l.v <= r.v : s(l.v) <= s(r.v));
    if (o == ">=") return b(uns ? l.v >= r.v : s(l.v) >= s(r.v));
    if (o == "|") return Val{true, l.v | r.v, uns};
    if (o == "^") return Val{true, l.v ^ r.v, uns};
    if (o == "&") return Val{true, l.v & r.v, uns};
    if (o == "+") return Val{true, l.v + r.v, uns};
    if (o == "-") return Val{true, l.v - r.v, uns};
    if (o == "*") return Val{true, l.v * r.v, uns};
    if (o == "<<" || o == ">>") {
      if (r.v >= 64) return Val{false, 0, l.uns};
      if (o == "<<") return Val{true, l.v << r.v, l.uns};
      return Val{true, l.uns ? l.v >> r.v : static_cast<uint64_t>(s(l.v) >> r.v), l.uns};
    }
    if (r.v == 0) return Val{false, 0, uns};   // the compiler says division by zero
    if (o == "/") return Val{true, uns ? l.v / r.v : static_cast<uint64_t>(s(l.v) / s(r.v)), uns};
    return Val{true, uns ? l.v % r.v : static_cast<uint64_t>(s(l.v) % s(r.v)), uns};
  }

  Val unary() {
    Nest nest(*this);
    if (bad) return Val{false, 0, false};
    if (accept("!")) {
      Val v = unary();
      return v.known ? Val{true, v.v ? 0u : 1u, false} : Val{false, 0, false};
    }
    if (accept("~")) {
      Val v = unary();
      v.v = ~v.v;
      return v;
    }
    if (accept("-")) {
      Val v = unary();
      v.v = 0 - v.v;
      return v;
    }
    if (accept("+")) return unary();
    return primary();
  }

  Val primary() {
    const Token* t = peek();
    if (!t) {
      bad = true;
      return Val{false, 0, false};
    }
    ++i_;
    if (is_punct(*t, "(")) {
      Val v = comma();
      if (!accept(")")) bad = true;
      return v;
    }
    if (t->kind == TokKind::Number) return number(t->text);
    if (t->kind == TokKind::Char) return character(t->text);
    if (t->kind == TokKind::Ident) return Val{true, cpp_ && t->text == "true" ? 1u : 0u, false};
    bad = true;
    return Val{false, 0, false};
  }

  static Val number(std::string_view text) {
    if (text == "?") return Val{false, 0, false};
    std::string s;
    for (char c : text)
      if (c != '\'') s += c;
    bool uns = false;
    while (!s.empty() && (s.back() == 'u' || s.back() == 'U' || s.back() == 'l' || s.back() == 'L')) {
      if (s.back() == 'u' || s.back() == 'U') uns = true;
      s.pop_back();
    }
    int base = 10;
    size_t i = 0;
    if (s.size() > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, i = 2;
    else if (s.size() > 1 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) base = 2, i = 2;
    else if (s.size() > 1 && s[0] == '0') base = 8, i = 1;
    if (i >= s.size() && base != 8) return Val{false, 0, false};
    uint64_t v = 0;
    for (; i < s.size(); ++i) {
      char c = s[i];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
      if (d >= base) return Val{false, 0, false};   // a floating constant, or not a number
      v = v * base + d;
    }
    if (v > static_cast<uint64_t>(INT64_MAX)) uns = true;
    return Val{true, v, uns};
  }

  static Val character(std::string_view text) {
    if (text.size() < 3 || text[0] != '\'') return Val{false, 0, false};
    std::string_view body = text.substr(1, text.size() - 2);
    if (body.size() == 1) return Val{true, static_cast<uint64_t>(static_cast<int64_t>(static_cast<signed char>(body[0]))), false};
    if (body.size() == 2 && body[0] == '\\') {
      switch (body[1]) {
        case 'n': return Val{true, '\n', false};
        case 't': return Val{true, '\t', false};
        case '0': return Val{true, 0, false};
        case '\\': return Val{true, '\\', false};
        case '\'': return Val{true, '\'', false};
        default: break;
      }
    }
    return Val{false, 0, false};
  }

  const std::vector<PTok>& t_;
  bool cpp_;
  size_t i_ = 0;
  int depth_ = 0;
};

std::vector<PTok> wrap(std::vector<Token> toks) {
  std::vector<PTok> out;
  out.reserve(toks.size());
  for (auto& t : toks) out.push_back(PTok{std::move(t), {}});
  return out;
}

}  // namespace

Tri eval_condition(std::string_view text, const EvalContext& cx) {
  HideSets hides;
  MadeTexts made;
  Expander ex(cx, true, hides, made);
  auto toks = ex.run(wrap(tokenize(text)));
  if (ex.unknown || toks.empty()) return Tri::Maybe;
  Parser p(toks, cx.cplusplus);
  Val v = p.parse();
  if (p.bad || !v.known) return Tri::Maybe;
  return v.v ? Tri::True : Tri::False;
}

std::optional<std::string> expand_include_operand(std::string_view text, const EvalContext& cx) {
  HideSets hides;
  MadeTexts made;
  Expander ex(cx, false, hides, made);
  auto toks = ex.run(wrap(tokenize(text)));
  if (ex.unknown || toks.empty()) return std::nullopt;
  if (toks[0].t.kind == TokKind::String && toks[0].t.text.size() >= 2 && toks[0].t.text[0] == '"') return std::string(toks[0].t.text);
  if (!is_punct(toks[0].t, "<")) return std::nullopt;
  std::string h;
  for (auto& t : toks) {
    if (!h.empty() && t.t.space_before) h += ' ';
    h += t.t.text;
    if (is_punct(t.t, ">")) return h;
  }
  return std::nullopt;
}

}  // namespace zbuild::scan
