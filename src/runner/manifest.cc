#include "runner/manifest.h"

#include <charconv>

namespace zbuild::runner {

namespace {

constexpr std::string_view kMagic1 = "zbuild-cc-manifest 1\n";
constexpr std::string_view kMagic2 = "zbuild-cc-manifest 2\n";

Result<size_t> parse_count(std::string_view num) {
  size_t n = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (ec != std::errc() || p != num.data() + num.size()) return make_error("runner manifest: bad byte count");
  return n;
}

std::string encode_record(const Manifest& m) {
  std::string out;
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

Result<Manifest> decode_record(std::string_view text) {
  Manifest m;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find('\n', i);
    if (end == std::string_view::npos) return make_error("runner manifest: truncated line");
    std::string_view line = text.substr(i, end - i);
    i = end + 1;
    if (line.size() < 3 || line[1] != ' ') return make_error("runner manifest: malformed line");
    if (line[0] == 'D') {
      auto n = parse_count(line.substr(2));
      if (!n.ok() || n.value() != text.size() - i) return make_error("runner manifest: bad depfile length");
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

}  // namespace

std::string encode_manifest(const std::vector<Manifest>& records) {
  std::string out(kMagic2);
  for (const auto& m : records) {
    std::string body = encode_record(m);
    out += "M " + std::to_string(body.size()) + "\n";
    out += body;
  }
  return out;
}

Result<std::vector<Manifest>> decode_manifest(std::string_view text) {
  std::vector<Manifest> out;
  if (text.substr(0, kMagic1.size()) == kMagic1) {
    auto m = decode_record(text.substr(kMagic1.size()));
    if (!m.ok()) return m.error();
    out.push_back(std::move(m.value()));
    return out;
  }
  if (text.substr(0, kMagic2.size()) != kMagic2) return make_error("runner manifest: unknown format");
  size_t i = kMagic2.size();
  while (i < text.size()) {
    if (out.size() == kManifestRecords) return make_error("runner manifest: too many records");
    size_t end = text.find('\n', i);
    if (end == std::string_view::npos || text.substr(i, 2) != "M ") return make_error("runner manifest: malformed record");
    auto n = parse_count(text.substr(i + 2, end - i - 2));
    if (!n.ok()) return n.error();
    i = end + 1;
    if (n.value() > text.size() - i) return make_error("runner manifest: truncated record");
    auto m = decode_record(text.substr(i, n.value()));
    if (!m.ok()) return m.error();
    out.push_back(std::move(m.value()));
    i += n.value();
  }
  return out;
}

std::vector<Manifest> add_manifest_record(Manifest fresh, const std::vector<Manifest>& known) {
  std::vector<Manifest> out{std::move(fresh)};
  for (const auto& m : known) {
    if (out.size() == kManifestRecords) break;
    if (m.files != out.front().files) out.push_back(m);
  }
  return out;
}

}  // namespace zbuild::runner
