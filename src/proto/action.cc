#include "proto/action.h"

#include "proto/root_free.h"

namespace zbuild {

namespace {
void put_digest(Hasher& h, const Digest& d) {
  h.field(d.hi);
  h.field(d.lo);
  h.field(d.size);
}
}  // namespace

Digest action_key(const ActionSpec& a) {
  Hasher h;
  h.field("zbuild-action");
  h.field(kActionKeyVersion);
  bool free = root_free(a);   // the root as a placeholder, and left out (proto/root_free.h)
  h.field(a.argv.size());
  for (auto& s : a.argv) h.field(free ? without_root(s, a.root) : s);
  h.field(a.env.size());
  for (auto& s : a.env) h.field(free ? without_root(s, a.root) : s);
  h.field(a.cwd);
  h.field(a.inputs.size());
  for (auto& in : a.inputs) {
    h.field(in.path);
    put_digest(h, in.digest);
    h.field(in.executable ? 1 : 0);
  }
  h.field(a.outputs.size());
  for (auto& o : a.outputs) h.field(o);
  h.field(a.host_files.size());
  for (auto& f : a.host_files) {
    h.field(f.path);
    put_digest(h, f.digest);
  }
  h.field(free ? kRootPlaceholder : std::string_view(a.root));
  if (!a.toolchain.empty()) {   // absent before toolchains were shipped
    h.field("toolchain");
    put_digest(h, a.toolchain);
  }
  return h.finish();
}

}  // namespace zbuild
