// libFuzzer target: the include scanner's readers of files someone else may write — a source or
// header's directives (lexer, include guards), #if conditions and computed #include operands
// over the macros the file defines, and the scanner's cache file of compiler facts.
#include <cstddef>
#include <cstdint>
#include <string>

#include "scan/compiler_facts.h"
#include "scan/include_scan.h"
#include "scan/macros.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto info = zbuild::scan::file_info(text);
  zbuild::scan::MacroTable macros;
  zbuild::scan::EvalContext cx;
  cx.macros = &macros;
  cx.has_include = [](const std::string& h, bool) { return h.size() % 2 == 0; };
  for (auto& d : info.directives) {
    using K = zbuild::scan::DirKind;
    if (d.kind == K::Define) (void)macros.define(d.text, true);
    else if (d.kind == K::Undef) macros.undef(d.text, true);
    else if (d.kind == K::If || d.kind == K::Elif) (void)zbuild::scan::eval_condition(d.text, cx);
    else if (d.kind == K::Include || d.kind == K::IncludeNext) (void)zbuild::scan::expand_include_operand(d.text, cx);
  }
  auto f = zbuild::scan::decode_facts(text);
  if (f.ok()) {
    auto again = zbuild::scan::decode_facts(zbuild::scan::encode_facts(f.value()));
    if (!again.ok() || again.value().predefined != f.value().predefined) __builtin_trap();
  }
  return 0;
}
