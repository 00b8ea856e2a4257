#include "worker/toolchains.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "worker/task_files.h"

namespace zbuild::worker {

namespace fs = std::filesystem;

Result<std::shared_ptr<const toolchain::Tree>> Toolchains::tree(const Digest& d) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = trees_.find(d); it != trees_.end()) return it->second;
  }
  auto text = read_file(cache_.path(d));
  if (!text.ok()) return make_error("toolchain tree " + d.str() + ": " + text.error().message);
  if (digest_bytes(text.value()) != d) return make_error("toolchain tree " + d.str() + ": content does not match");
  auto t = toolchain::Tree::decode(text.value());
  if (!t.ok()) return make_error(t.error().message + " (tree " + d.str() + ")");
  auto shared = std::make_shared<const toolchain::Tree>(std::move(t.value()));
  std::lock_guard<std::mutex> lock(mu_);
  trees_.emplace(d, shared);
  return shared;
}

bool Toolchains::host_matches(const toolchain::Tree& t, const std::vector<HostFileSpec>& host_files) {
  std::vector<HostFileSpec> files = host_files;
  for (auto& e : t.entries) {
    struct stat st {};
    if (e.kind == 'f' || e.kind == 'x') {
      files.push_back(HostFileSpec{e.path, e.digest});
    } else if (e.kind == 'd') {
      if (::lstat(e.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    } else {
      std::error_code ec;
      if (fs::read_symlink(e.path, ec).string() != e.target || ec) return false;
    }
  }
  return hosts_.check(files).ok();
}

std::vector<Digest> Toolchains::missing_blobs(const toolchain::Tree& t, const std::vector<HostFileSpec>& host_files) const {
  std::vector<Digest> out;
  for (auto& e : t.entries) {
    if ((e.kind == 'f' || e.kind == 'x') && !cache_.has(e.digest)) out.push_back(e.digest);
  }
  for (auto& h : host_files) {
    if (!cache_.has(h.digest)) out.push_back(h.digest);
  }
  return out;
}

namespace {

// `abs` as the sandbox resolves it: each folder on the way that is a link of the tree (/lib ->
// usr/lib) followed inside `root`, never out of it ("/.." stays "/"). The file itself is not
// followed: a link there is the tree's own entry.
Result<std::string> resolve_in_root(const fs::path& root, std::string abs) {
  for (int depth = 0; depth < 40; ++depth) {
    std::string cur;
    bool moved = false;
    size_t i = 1;
    for (size_t s = abs.find('/', i); s != std::string::npos; s = abs.find('/', i)) {
      cur += "/" + abs.substr(i, s - i);
      i = s + 1;
      struct stat st {};
      if (::lstat((root.string() + cur).c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;
      std::error_code ec;
      std::string target = fs::read_symlink(root.string() + cur, ec).string();
      if (ec || target.empty()) return make_error(cur + ": unreadable link in the toolchain");
      fs::path base = target[0] == '/' ? fs::path(target) : fs::path(cur).parent_path() / target;
      abs = (fs::path("/") / base / abs.substr(s + 1)).lexically_normal().string();
      moved = true;
      break;
    }
    if (!moved) return abs;
  }
  return make_error(abs + ": too many links in the toolchain");
}

}  // namespace

Status Toolchains::place(Root& r, const std::string& named, const Digest& d, bool exec) {
  if (!toolchain::normalised_absolute(named) || !toolchain::allowed_path(named)) {
    return make_error("host file '" + named + "' is not a normalised path under the toolchain folders");
  }
  auto resolved = resolve_in_root(r.path, named);
  if (!resolved.ok()) return resolved.error();
  const std::string& abs = resolved.value();
  if (!toolchain::normalised_absolute(abs) || !toolchain::allowed_path(abs)) {
    return make_error("host file '" + named + "' leads out of the toolchain folders");
  }
  if (auto it = r.files.find(abs); it != r.files.end()) {
    if (it->second == d) return {};
    return make_error("host file " + abs + " differs from the one another task of this toolchain shipped");
  }
  ZB_TRY(make_folders_to(r.path.string(), abs.substr(1), r.folders));
  fs::path dst = r.path.string() + abs;
  struct stat st {};
  if (::lstat(dst.c_str(), &st) == 0) {
    // The driver named by a task is a link of the tree: the tree's own entries decide.
    if (S_ISLNK(st.st_mode)) return {};
    return make_error("host file " + abs + " clashes with the toolchain tree");
  }
  fs::path src = cache_.path(d);
  struct stat cs {};
  if (::stat(src.c_str(), &cs) != 0) return make_error("blob " + d.str() + " for " + abs + " is not in the cache");
  bool cache_exec = (cs.st_mode & S_IXUSR) != 0;
  if (cache_exec != exec || ::link(src.c_str(), dst.c_str()) != 0) {
    auto copied = copy_input(src.string(), dst.string(), exec);
    if (!copied.ok()) return make_error("cannot place " + abs + ": " + copied.error().message);
  }
  r.files.emplace(abs, d);
  return {};
}

Result<fs::path> Toolchains::root_for(const Digest& d, const std::vector<HostFileSpec>& host_files) {
  auto t = tree(d);
  if (!t.ok()) return t.error();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = roots_.find(d);
  if (it == roots_.end()) {
    Root r;
    r.path = dir_ / d.hex() / "root";
    std::error_code ec;
    fs::remove_all(dir_ / d.hex(), ec);
    fs::create_directories(r.path, ec);
    if (ec) return make_error("toolchain folder " + r.path.string() + ": " + ec.message());
    for (auto& e : t.value()->entries) {
      if (e.kind == 'd') {
        ZB_TRY(make_folders_to(r.path.string(), e.path.substr(1) + "/x", r.folders));
      } else if (e.kind == 'l') {
        ZB_TRY(make_folders_to(r.path.string(), e.path.substr(1), r.folders));
        if (::symlink(e.target.c_str(), (r.path.string() + e.path).c_str()) != 0) {
          return make_error("cannot make the link " + e.path + " in the toolchain folder");
        }
      } else {
        ZB_TRY(place(r, e.path, e.digest, e.kind == 'x'));
      }
    }
    it = roots_.emplace(d, std::move(r)).first;
  }
  for (auto& h : host_files) ZB_TRY(place(it->second, h.path, h.digest, false));
  return it->second.path;
}

}  // namespace zbuild::worker
