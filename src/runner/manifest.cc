#include "runner/manifest.h"

#include <charconv>

namespace zbuild::runner {

namespace {
constexpr std::string_view kMagic = "zbuild-cc-manifest 1\n";
}

std::string encode_manifest(const Manifest& m) {
  std::string out(kMagic);
  for (auto& e : m.files) {
    out.push_back(e.kind);
    out.push_back(' ');
    out += e.digest.str();
    out.push_back(' ');
    out += e.path;
    out.push_back('\n');
  }
  if (!m.object.empty()) out += "O " + m.object.str() + "\n";
  if (m.has_depfile) {
    out += "D " + std::to_string(m.depfile.size()) + "\n";
    out += m.depfile;
  }
  return out;
}

Result<Manifest> decode_manifest(std::string_view text) {
  if (text.substr(0, kMagic.size()) != kMagic) return make_error("runner manifest: unknown format");
  Manifest m;
  size_t i = kMagic.size();
  while (i < text.size()) {
    size_t end = text.find('\n', i);
    if (end == std::string_view::npos) return make_error("runner manifest: truncated line");
    std::string_view line = text.substr(i, end - i);
    i = end + 1;
    if (line.size() < 3 || line[1] != ' ') return make_error("runner manifest: malformed line");
    if (line[0] == 'D') {
      size_t n = 0;
      auto num = line.substr(2);
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
      if (ec != std::errc() || p != num.data() + num.size() || n != text.size() - i) {
        return make_error("runner manifest: bad depfile length");
      }
      m.has_depfile = true;
      m.depfile = std::string(text.substr(i));
      break;
    }
    if (line[0] == 'O') {
      auto d = Digest::parse(line.substr(2));
      if (!d.ok()) return d.error();
      m.object = d.value();
      continue;
    }
    if (line[0] != 'R' && line[0] != 'H') return make_error("runner manifest: unknown entry kind");
    auto sp = line.find(' ', 2);
    if (sp == std::string_view::npos || sp + 1 >= line.size()) return make_error("runner manifest: malformed line");
    auto d = Digest::parse(line.substr(2, sp - 2));
    if (!d.ok()) return d.error();
    m.files.push_back(ManifestEntry{line[0], std::string(line.substr(sp + 1)), d.value()});
  }
  return m;
}

}  // namespace zbuild::runner
