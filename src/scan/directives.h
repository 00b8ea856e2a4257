// The preprocessor directives of a C or C++ file, and nothing else: what the include scanner
// (scan/include_scan.h) needs to follow #include lines without running the compiler.
//
// Lexing follows translation phases 1–3 as far as directives depend on them: backslash-newline
// splices, comments (a block comment inside a directive line continues the directive), string,
// character and raw string literals and pp-numbers (1'000) skipped, so a '#' or "/*" inside
// them is not mistaken. A directive is a '#' first on a logical line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zbuild::scan {

enum class DirKind : uint8_t {
  Include, IncludeNext, Import, Define, Undef,
  If, Ifdef, Ifndef, Elif, Elifdef, Elifndef, Else, Endif,
  PragmaOnce, PragmaSystemHeader, Error,
};

struct Directive {
  DirKind kind;
  uint32_t line;      // 1-based physical line of the '#'
  std::string_view text;   // the rest of the line: comments replaced by one space, splices
                           // joined (a view: whoever holds the Directive keeps its bytes)
};

// Directives other than the kinds above (#line, #pragma other, #warning, #ident, ...) are left
// out. Never fails: text the lexer does not understand is skipped as the compiler would skip it
// or left for the compiler to diagnose. The texts are appended to `store` and the directives
// view them there: valid while `store` is neither changed nor freed.
std::vector<Directive> lex_directives(std::string_view text, std::string& store);

// Tokens of a directive's text, for #if expressions, macro bodies and computed includes.
enum class TokKind : uint8_t { Ident, Number, Char, String, Punct, HeaderName };
struct Token {
  TokKind kind;
  bool space_before = false;   // whitespace preceded it (function-like macro definitions)
  std::string_view text;       // a view: into the text tokenized, or text its maker keeps
  bool operator==(const Token&) const = default;
};

// `header_name`: a leading <...> is one HeaderName token (the operand of #include). The tokens
// view `text`: valid while it is.
std::vector<Token> tokenize(std::string_view text, bool header_name = false);

}  // namespace zbuild::scan
