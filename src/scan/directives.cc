#include "scan/directives.h"

#include <array>
#include <cstring>

namespace zbuild::scan {
namespace {

constexpr bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || (c & 0x80); }
// A table: the lexer asks this of every character of every identifier and number it reads.
constexpr std::array<bool, 256> kIdentChar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = ident_start(static_cast<char>(c)) || (c >= '0' && c <= '9');
  return t;
}();
inline bool ident_char(char c) { return kIdentChar[static_cast<unsigned char>(c)]; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool hspace(char c) { return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r'; }

// Phase 2: backslash-newline removed. `splices` gets the position in the result of each one, so
// physical line numbers can be told.
std::string splice(std::string_view in, std::vector<size_t>* splices) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\\') {
      size_t j = i + 1;
      if (j < in.size() && in[j] == '\r') ++j;
      if (j < in.size() && in[j] == '\n') {
        splices->push_back(out.size());
        i = j;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view s, const std::vector<size_t>& splices, std::string& store)
      : s_(s), splices_(splices), store_(store) {}

  // The texts go into store_ one after another; the views are made once it stops growing.
  std::vector<Directive> run() {
    std::vector<Directive> out;
    size_t base = store_.size();
    bool line_start = true;
    const size_t n = s_.size();
    while (i_ < n) {
      char c = s_[i_];
      if (line_start) {
        if (c == '\n' || hspace(c)) {
          ++i_;
          continue;
        }
        if (c == '#') {
          directive(&out);   // stops at the newline that ends it: the next line starts there
          continue;
        }
        if (c == '/' && peek(1) == '*') {   // a comment before the '#' keeps the line a directive's
          skip_block_comment();
          continue;
        }
        if (c == '/' && peek(1) == '/') {
          skip_to_newline();
          continue;
        }
        line_start = false;
      }
      // Inside a line only these matter: the newline, comments, and literals (which may hold
      // any of them).
      while (i_ < n && !stop(s_[i_])) ++i_;
      if (i_ >= n) break;
      c = s_[i_];
      if (c == '\n') {
        line_start = true;
        ++i_;
      } else if (c == '/') {
        if (peek(1) == '*') skip_block_comment();
        else if (peek(1) == '/') skip_to_newline();
        else ++i_;
      } else if (c == '"') {
        if (raw_prefix_before(i_)) skip_raw(i_);
        else skip_quoted('"');
      } else if (digit_separator_at(i_)) {   // '\''
        ++i_;
      } else {
        skip_quoted('\'');
      }
    }
    size_t at = base;
    for (size_t k = 0; k < out.size(); ++k) {
      out[k].text = std::string_view(store_).substr(at, lengths_[k]);
      at += lengths_[k];
    }
    return out;
  }

 private:
  char peek(size_t k) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }

  static bool stop(char c) {
    static const auto table = [] {
      std::array<bool, 256> t{};
      for (unsigned char x : {'\n', '/', '"', '\''}) t[x] = true;
      return t;
    }();
    return table[static_cast<unsigned char>(c)];
  }

  // The identifier (or pp-number) that ends right before `pos`.
  std::string_view word_before(size_t pos) const {
    size_t j = pos;
    while (j > 0 && (ident_char(s_[j - 1]) || s_[j - 1] == '.')) --j;
    return s_.substr(j, pos - j);
  }
  // R"(...)" and its encoding prefixes, as a word of its own.
  bool raw_prefix_before(size_t quote) const {
    std::string_view w = word_before(quote);
    return w == "R" || w == "LR" || w == "uR" || w == "UR" || w == "u8R";
  }
  // C++14's digit separator: a quote inside a pp-number (1'000, 0x1'FF) followed by a digit or
  // letter; a quote after u8, L, ... or anything else opens a character literal.
  bool digit_separator_at(size_t quote) const {
    std::string_view w = word_before(quote);
    bool number = !w.empty() && (digit(w[0]) || (w[0] == '.' && w.size() > 1 && digit(w[1])));
    return number && quote + 1 < s_.size() && ident_char(s_[quote + 1]);
  }

  uint32_t line_of(size_t pos) {
    while (nl_pos_ < pos) {
      if (s_[nl_pos_] == '\n') ++line_;
      ++nl_pos_;
    }
    while (sp_ < splices_.size() && splices_[sp_] <= pos) {
      ++line_;
      ++sp_;
    }
    return line_;
  }

  void skip_block_comment() {
    size_t end = s_.find("*/", i_ + 2);
    i_ = end == std::string_view::npos ? s_.size() : end + 2;
  }
  void skip_to_newline() {
    size_t end = s_.find('\n', i_);
    i_ = end == std::string_view::npos ? s_.size() : end;
  }
  // A quoted literal from the opening quote; an unterminated one ends at the newline.
  void skip_quoted(char q) {
    ++i_;
    while (i_ < s_.size() && s_[i_] != '\n') {
      if (s_[i_] == '\\') {
        i_ += 2;
        continue;
      }
      if (s_[i_++] == q) return;
    }
    if (i_ > s_.size()) i_ = s_.size();
  }
  // R"delim( ... )delim" from the quote. Not a raw string (bad delimiter): an ordinary one.
  void skip_raw(size_t quote) {
    size_t open = s_.find('(', quote + 1);
    if (open == std::string_view::npos || open - quote - 1 > 16 ||
        s_.substr(quote + 1, open - quote - 1).find_first_of(" \\)\t\n") != std::string_view::npos) {
      i_ = quote;
      skip_quoted('"');
      return;
    }
    std::string close = ")" + std::string(s_.substr(quote + 1, open - quote - 1)) + "\"";
    size_t end = s_.find(close, open + 1);
    i_ = end == std::string_view::npos ? s_.size() : end + close.size();
  }
  // Blanks and block comments on the directive's line (a comment may carry it over newlines).
  void skip_blanks() {
    while (i_ < s_.size()) {
      if (hspace(s_[i_])) ++i_;
      else if (s_[i_] == '/' && peek(1) == '*') skip_block_comment();
      else break;
    }
  }

  // From '#' to the end of its logical line.
  void directive(std::vector<Directive>* out) {
    uint32_t line = line_of(i_);
    ++i_;
    skip_blanks();
    size_t nb = i_;
    while (i_ < s_.size() && ident_char(s_[i_])) ++i_;
    std::string name(s_.substr(nb, i_ - nb));
    std::string text;
    if (name == "include" || name == "include_next" || name == "import") {
      skip_blanks();
      if (i_ < s_.size() && s_[i_] == '<') {
        size_t end = s_.find_first_of(">\n", i_);
        if (end == std::string_view::npos) end = s_.size();
        else if (s_[end] == '>') ++end;
        text.append(s_.substr(i_, end - i_));
        i_ = end;
      }
    }
    while (i_ < s_.size() && s_[i_] != '\n') {
      char c = s_[i_];
      if (c == '/' && peek(1) == '*') {
        skip_block_comment();
        text.push_back(' ');
      } else if (c == '/' && peek(1) == '/') {
        skip_to_newline();
      } else if (c == '"' || c == '\'') {
        size_t b = i_;
        skip_quoted(c);
        text.append(s_.substr(b, i_ - b));
      } else {
        text.push_back(hspace(c) ? ' ' : c);
        ++i_;
      }
    }
    if (name.empty()) return;   // the null directive, or a line marker
    std::string rest = text;
    size_t rb = rest.find_first_not_of(' ');
    rest = rb == std::string::npos ? std::string() : rest.substr(rb);
    while (!rest.empty() && rest.back() == ' ') rest.pop_back();
    DirKind k;
    if (name == "include") k = DirKind::Include;
    else if (name == "include_next") k = DirKind::IncludeNext;
    else if (name == "import") k = DirKind::Import;
    else if (name == "define") k = DirKind::Define;
    else if (name == "undef") k = DirKind::Undef;
    else if (name == "if") k = DirKind::If;
    else if (name == "ifdef") k = DirKind::Ifdef;
    else if (name == "ifndef") k = DirKind::Ifndef;
    else if (name == "elif") k = DirKind::Elif;
    else if (name == "elifdef") k = DirKind::Elifdef;
    else if (name == "elifndef") k = DirKind::Elifndef;
    else if (name == "else") k = DirKind::Else;
    else if (name == "endif") k = DirKind::Endif;
    else if (name == "error") k = DirKind::Error;
    else if (name == "pragma") {
      auto toks = tokenize(rest);
      if (toks.size() == 1 && toks[0].text == "once") k = DirKind::PragmaOnce;
      else if (toks.size() >= 2 && toks[0].text == "GCC" && toks[1].text == "system_header") k = DirKind::PragmaSystemHeader;
      else return;
    } else {
      return;
    }
    store_.append(rest);
    lengths_.push_back(rest.size());
    out->push_back(Directive{k, line, {}});
  }

  std::string_view s_;
  const std::vector<size_t>& splices_;
  std::string& store_;
  std::vector<size_t> lengths_;   // of each directive's text in store_, in order
  size_t i_ = 0;
  size_t nl_pos_ = 0, sp_ = 0;
  uint32_t line_ = 1;
};

}  // namespace

std::vector<Directive> lex_directives(std::string_view text, std::string& store) {
  std::vector<size_t> splices;
  if (text.find("\\\n") == std::string_view::npos && text.find("\\\r\n") == std::string_view::npos) {
    return Lexer(text, splices, store).run();   // no splice: the text as it is
  }
  std::string s = splice(text, &splices);
  return Lexer(s, splices, store).run();
}

std::vector<Token> tokenize(std::string_view t, bool header_name) {
  std::vector<Token> out;
  out.reserve(t.size() / 4 + 2);
  size_t i = 0;
  bool space = false;
  while (i < t.size()) {
    char c = t[i];
    if (c == ' ' || hspace(c) || c == '\n') {
      space = true;
      ++i;
      continue;
    }
    Token tok;
    tok.space_before = space;
    space = false;
    size_t b = i;
    if (header_name && out.empty() && c == '<') {
      size_t end = t.find('>', i);
      if (end == std::string_view::npos) end = t.size() - 1;
      i = end + 1;
      tok.kind = TokKind::HeaderName;
    } else if (ident_start(c)) {
      while (i < t.size() && ident_char(t[i])) ++i;
      tok.kind = TokKind::Ident;
      std::string_view id = t.substr(b, i - b);
      if (i < t.size() && (t[i] == '"' || t[i] == '\'') && (id == "L" || id == "u" || id == "U" || id == "u8")) {
        char q = t[i++];
        while (i < t.size() && t[i] != q) i += t[i] == '\\' ? 2 : 1;
        i = std::min(i + 1, t.size());
        tok.kind = q == '"' ? TokKind::String : TokKind::Char;
      }
    } else if (digit(c) || (c == '.' && i + 1 < t.size() && digit(t[i + 1]))) {
      ++i;
      while (i < t.size()) {
        char d = t[i];
        if ((d == '+' || d == '-') && std::strchr("eEpP", t[i - 1])) ++i;
        else if (ident_char(d) || d == '.') ++i;
        else if (d == '\'' && i + 1 < t.size() && ident_char(t[i + 1])) i += 2;
        else break;
      }
      tok.kind = TokKind::Number;
    } else if (c == '"' || c == '\'') {
      ++i;
      while (i < t.size() && t[i] != c) i += t[i] == '\\' ? 2 : 1;
      i = std::min(i + 1, t.size());
      tok.kind = c == '"' ? TokKind::String : TokKind::Char;
    } else {
      // The multi-character punctuators the scanner cares about: <<= >>= ... ## << >> <= >= ==
      // != && || -> ++ -- :: (any other character is a punctuator of its own).
      tok.kind = TokKind::Punct;
      char c1 = i + 1 < t.size() ? t[i + 1] : '\0';
      char c2 = i + 2 < t.size() ? t[i + 2] : '\0';
      size_t len = 1;
      switch (c) {
        case '<':
        case '>':
          if (c1 == c) len = c2 == '=' ? 3 : 2;
          else if (c1 == '=') len = 2;
          break;
        case '.': len = c1 == '.' && c2 == '.' ? 3 : 1; break;
        case '=':
        case '!': len = c1 == '=' ? 2 : 1; break;
        case '-': len = c1 == '-' || c1 == '>' ? 2 : 1; break;
        case '#':
        case '&':
        case '|':
        case '+':
        case ':': len = c1 == c ? 2 : 1; break;
        default: break;
      }
      i += len;
    }
    tok.text = t.substr(b, i - b);
    out.push_back(std::move(tok));
  }
  return out;
}

}  // namespace zbuild::scan
