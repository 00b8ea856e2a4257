#include "proto/wire.h"

#include "common/paths.h"

namespace zbuild::proto {

Result<const wire::Envelope*> decode(const void* data, size_t size, size_t cap) {
  if (size > cap) {
    return make_error("message of " + std::to_string(size) + " bytes exceeds the cap of " + std::to_string(cap));
  }
  if (size < 8) return make_error("message of " + std::to_string(size) + " bytes is truncated");
  flatbuffers::Verifier v(static_cast<const uint8_t*>(data), size, /*max_depth=*/16, /*max_tables=*/4'000'000);
  if (!wire::VerifyEnvelopeBuffer(v)) return make_error("message failed FlatBuffers verification");
  auto* env = wire::GetEnvelope(data);
  if (env->version() != kProtocolVersion) {
    return make_error("protocol version " + std::to_string(env->version()) + " not supported (want " +
                      std::to_string(kProtocolVersion) + ")");
  }
  // A union type without its table verifies, but every receiver reads the table: refuse it.
  if (env->body_type() == wire::Body::NONE || env->body() == nullptr) return make_error("message has no body");
  return env;
}

flatbuffers::Offset<wire::Action> build_action(flatbuffers::FlatBufferBuilder& fbb, const ActionSpec& a) {
  std::vector<flatbuffers::Offset<wire::InputFile>> ins;
  ins.reserve(a.inputs.size());
  for (auto& i : a.inputs) {
    auto d = to_wire(i.digest);
    ins.push_back(wire::CreateInputFile(fbb, fbb.CreateString(i.path), &d, i.executable, i.producer));
  }
  std::vector<flatbuffers::Offset<wire::HostFile>> hosts;
  hosts.reserve(a.host_files.size());
  for (auto& h : a.host_files) {
    auto d = to_wire(h.digest);
    hosts.push_back(wire::CreateHostFile(fbb, fbb.CreateString(h.path), &d));
  }
  return wire::CreateAction(fbb, fbb.CreateVectorOfStrings(a.argv), fbb.CreateVectorOfStrings(a.env),
                            fbb.CreateString(a.cwd), fbb.CreateVector(ins), fbb.CreateVectorOfStrings(a.outputs),
                            fbb.CreateVector(hosts), fbb.CreateString(a.root), a.timeout_ms);
}

Result<ActionSpec> parse_action(const wire::Action* a) {
  if (!a) return make_error("action missing");
  ActionSpec out;
  if (!a->argv() || a->argv()->size() == 0) return make_error("action has an empty argv");
  for (auto* s : *a->argv()) out.argv.push_back(str(s));
  if (a->env()) {
    for (auto* s : *a->env()) out.env.push_back(str(s));
  }
  auto cwd = normalize_relative(a->cwd() ? a->cwd()->str() : ".", "action cwd");
  if (!cwd) return cwd.error();
  out.cwd = cwd.value();
  if (a->inputs()) {
    for (auto* i : *a->inputs()) {
      if (!i) return make_error("action input missing");
      auto p = normalize_relative(str(i->path()), "action input");
      if (!p) return p.error();
      out.inputs.push_back(InputSpec{p.value(), from_wire(i->digest()), i->executable(), i->producer()});
    }
  }
  if (a->outputs()) {
    for (auto* s : *a->outputs()) {
      auto p = normalize_relative(str(s), "action output");
      if (!p) return p.error();
      out.outputs.push_back(p.value());
    }
  }
  if (a->host_files()) {
    for (auto* h : *a->host_files()) {
      if (!h) return make_error("action host file missing");
      auto path = str(h->path());
      if (path.empty() || path[0] != '/') return make_error("host file '" + path + "' is not absolute");
      out.host_files.push_back(HostFileSpec{path, from_wire(h->digest())});
    }
  }
  out.root = str(a->root());
  out.timeout_ms = a->timeout_ms();
  return out;
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::OutputFile>>> build_outputs(
    flatbuffers::FlatBufferBuilder& fbb, const std::vector<OutputSpec>& outs) {
  std::vector<flatbuffers::Offset<wire::OutputFile>> v;
  v.reserve(outs.size());
  for (auto& o : outs) {
    auto d = to_wire(o.digest);
    v.push_back(wire::CreateOutputFile(fbb, fbb.CreateString(o.path), &d, o.executable));
  }
  return fbb.CreateVector(v);
}

Result<std::vector<OutputSpec>> parse_outputs(const flatbuffers::Vector<flatbuffers::Offset<wire::OutputFile>>* v) {
  std::vector<OutputSpec> out;
  if (!v) return out;
  for (auto* o : *v) {
    if (!o) return make_error("output entry missing");
    auto p = normalize_relative(str(o->path()), "output");
    if (!p) return p.error();
    out.push_back(OutputSpec{p.value(), from_wire(o->digest()), o->executable()});
  }
  return out;
}

const char* body_name(wire::Body b) { return wire::EnumNameBody(b); }

}  // namespace zbuild::proto
