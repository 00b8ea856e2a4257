#include "common/toolchain_tree.h"

#include <array>
#include <set>

namespace zbuild::toolchain {

namespace {

constexpr std::array<std::string_view, 10> kTop = {"usr", "opt", "lib", "lib32", "lib64", "libx32", "bin", "sbin",
                                                   "etc", "etc/alternatives"};

bool printable_path(std::string_view p) {
  for (unsigned char c : p) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

bool normalised_absolute(std::string_view p) {
  if (p.size() < 2 || p[0] != '/' || p.back() == '/') return false;
  size_t i = 1;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view c = p.substr(i, j - i);
    if (c.empty() || c == "." || c == "..") return false;
    i = j + 1;
  }
  return true;
}

bool allowed_path(std::string_view abs) {
  if (abs.size() < 2 || abs[0] != '/') return false;
  std::string_view rest = abs.substr(1);
  std::string_view top = rest.substr(0, rest.find('/'));
  if (top == "etc") {   // only /etc itself (a folder on the way) and /etc/alternatives
    return rest == "etc" || rest == "etc/alternatives" || rest.starts_with("etc/alternatives/");
  }
  for (auto t : kTop) {
    if (top == t) return true;
  }
  return false;
}

std::string Tree::encode() const {
  std::string out = "zbuild-toolchain " + std::to_string(kTreeVersion) + "\n";
  for (auto& e : entries) {
    out += e.kind;
    out += '\t';
    out += e.path;
    if (e.kind == 'f' || e.kind == 'x') {
      out += '\t';
      out += e.digest.str();
    } else if (e.kind == 'l') {
      out += '\t';
      out += e.target;
    }
    out += '\n';
  }
  return out;
}

Result<Tree> Tree::decode(std::string_view text, size_t max_entries) {
  Tree t;
  size_t line_no = 0;
  size_t pos = 0;
  auto bad = [&](const std::string& why) {
    return make_error("toolchain tree, line " + std::to_string(line_no) + ": " + why);
  };
  std::set<std::string, std::less<>> links;   // a path below a link of the tree would be written through it
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      line_no++;
      return bad("not terminated by a newline");
    }
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    line_no++;
    if (line_no == 1) {
      if (line != "zbuild-toolchain " + std::to_string(kTreeVersion)) return bad("not a version 1 toolchain tree");
      continue;
    }
    if (t.entries.size() >= max_entries) return bad("more than " + std::to_string(max_entries) + " entries");
    std::vector<std::string_view> f;
    size_t i = 0;
    while (true) {
      size_t tab = line.find('\t', i);
      f.push_back(line.substr(i, tab == std::string_view::npos ? std::string_view::npos : tab - i));
      if (tab == std::string_view::npos) break;
      i = tab + 1;
    }
    if (f[0].size() != 1) return bad("unknown entry kind");
    Entry e;
    e.kind = f[0][0];
    size_t want = e.kind == 'd' ? 2 : 3;
    if ((e.kind != 'd' && e.kind != 'f' && e.kind != 'x' && e.kind != 'l') || f.size() != want) {
      return bad("malformed entry");
    }
    if (!normalised_absolute(f[1]) || !printable_path(f[1])) return bad("path is not absolute and normalised");
    if (!allowed_path(f[1])) return bad("path '" + std::string(f[1]) + "' is outside the toolchain folders");
    e.path = std::string(f[1]);
    if (!t.entries.empty() && !(t.entries.back().path < e.path)) return bad("entries not sorted and unique");
    for (size_t s = e.path.find('/', 1); s != std::string::npos; s = e.path.find('/', s + 1)) {
      if (links.count(std::string_view(e.path).substr(0, s))) return bad("path '" + e.path + "' lies below a link");
    }
    if (e.kind == 'f' || e.kind == 'x') {
      auto d = Digest::parse(f[2]);
      if (!d.ok()) return bad("bad digest");
      e.digest = d.value();
    } else if (e.kind == 'l') {
      if (f[2].empty() || f[2].size() > 4096 || !printable_path(f[2])) return bad("bad link target");
      e.target = std::string(f[2]);
      links.insert(e.path);
    }
    t.entries.push_back(std::move(e));
  }
  if (line_no == 0) return make_error("toolchain tree: empty");
  return t;
}

}  // namespace zbuild::toolchain
