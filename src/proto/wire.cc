#include "proto/wire.h"

#include <cstring>

#include "common/paths.h"

namespace zbuild::proto {

namespace {

// FlatBuffers 2.0's Verifier checks a vector's length field for 4-byte alignment, not its
// elements (google/flatbuffers#8397): a peer can put a vector of 8-byte structs at 4 mod 8 and
// every element read is then misaligned. Our builder always aligns them, so a misaligned one
// is refused. An empty vector has no element to read (and builders do not always pad it).
template <class T>
bool elements_aligned(const flatbuffers::Vector<const T*>* v) {
  return !v || v->size() == 0 || reinterpret_cast<uintptr_t>(v->Data()) % alignof(T) == 0;
}

// Every vector of structs in schemas/zbuild.fbs, by the body that holds it (wire_test checks
// this list against the schema).
bool struct_vectors_aligned(const wire::Envelope& e) {
  switch (e.body_type()) {
    case wire::Body::BlobRequest: return elements_aligned(e.body_as_BlobRequest()->items());
    case wire::Body::FindMissing: return elements_aligned(e.body_as_FindMissing()->digests());
    case wire::Body::MissingBlobs: return elements_aligned(e.body_as_MissingBlobs()->digests());
    case wire::Body::BlobWanted: return elements_aligned(e.body_as_BlobWanted()->digests());
    default: return true;
  }
}

static_assert(alignof(wire::Digest) <= kFrameAlignment && alignof(wire::ChunkRef) <= kFrameAlignment,
              "a struct in schemas/zbuild.fbs needs more alignment than kFrameAlignment");

}  // namespace

Result<Frame> decode(const void* data, size_t size, size_t cap) {
  if (size > cap) {
    return make_error("message of " + std::to_string(size) + " bytes exceeds the cap of " + std::to_string(cap));
  }
  if (size < 8) return make_error("message of " + std::to_string(size) + " bytes is truncated");
  Frame f;
  if (reinterpret_cast<uintptr_t>(data) % kFrameAlignment != 0) {
    f.copy_ = std::make_unique_for_overwrite<uint64_t[]>((size + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    std::memcpy(f.copy_.get(), data, size);
    data = f.copy_.get();
  }
  flatbuffers::Verifier v(static_cast<const uint8_t*>(data), size, /*max_depth=*/16, /*max_tables=*/4'000'000);
  if (!wire::VerifyEnvelopeBuffer(v)) return make_error("message failed FlatBuffers verification");
  f.env_ = wire::GetEnvelope(data);
  if (f.env_->version() != kProtocolVersion) {
    return make_error("protocol version " + std::to_string(f.env_->version()) + " not supported (want " +
                      std::to_string(kProtocolVersion) + ")");
  }
  // A union type without its table verifies, but every receiver reads the table: refuse it.
  if (f.env_->body_type() == wire::Body::NONE || f.env_->body() == nullptr) return make_error("message has no body");
  if (!struct_vectors_aligned(*f.env_)) return make_error("message has a misaligned vector of structs");
  return f;
}

flatbuffers::Offset<wire::Action> build_action(flatbuffers::FlatBufferBuilder& fbb, const ActionSpec& a) {
  std::vector<flatbuffers::Offset<wire::InputFile>> ins;
  ins.reserve(a.inputs.size());
  for (auto& i : a.inputs) {
    auto d = to_wire(i.digest);
    ins.push_back(wire::CreateInputFile(fbb, fbb.CreateString(i.path), &d, i.executable, i.producer,
                                        i.produced_as.empty() ? 0 : fbb.CreateString(i.produced_as)));
  }
  std::vector<flatbuffers::Offset<wire::HostFile>> hosts;
  hosts.reserve(a.host_files.size());
  for (auto& h : a.host_files) {
    auto d = to_wire(h.digest);
    hosts.push_back(wire::CreateHostFile(fbb, fbb.CreateString(h.path), &d));
  }
  auto tc = to_wire(a.toolchain);
  return wire::CreateAction(fbb, fbb.CreateVectorOfStrings(a.argv), fbb.CreateVectorOfStrings(a.env),
                            fbb.CreateString(a.cwd), fbb.CreateVector(ins), fbb.CreateVectorOfStrings(a.outputs),
                            fbb.CreateVector(hosts), fbb.CreateString(a.root), a.timeout_ms,
                            a.toolchain.empty() ? nullptr : &tc);
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
      out.inputs.push_back(InputSpec{p.value(), from_wire(i->digest()), i->executable(), i->producer(), {}});
      if (i->produced_as() && i->produced_as()->size() > 0) {
        auto as = normalize_relative(str(i->produced_as()), "action input's producer output");
        if (!as) return as.error();
        out.inputs.back().produced_as = as.value();
      }
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
  if (a->toolchain()) out.toolchain = from_wire(a->toolchain());
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

uint64_t answer_wanted(const wire::BlobWanted* w, uint64_t request_id,
                       const std::function<Result<std::string>(const Digest&)>& read,
                       const std::function<void(const std::string&)>& send) {
  uint64_t sent = 0;
  if (!w->digests()) return 0;
  for (auto* wd : *w->digests()) {
    Digest d = from_wire(wd);
    auto data = read(d);
    bool ok = data.ok() && digest_bytes(data.value()) == d;
    size_t off = 0;
    do {
      size_t len = ok ? std::min(kChunkSize, data.value().size() - off) : 0;
      flatbuffers::FlatBufferBuilder fbb(len + 128);
      auto wire_d = to_wire(d);
      auto chunk = ok ? fbb.CreateVector(reinterpret_cast<const uint8_t*>(data.value().data() + off), len)
                      : flatbuffers::Offset<flatbuffers::Vector<uint8_t>>();
      send(finish(fbb, wire::CreateBlobChunk(fbb, &wire_d, off, chunk, !ok), request_id));
      off += len;
    } while (ok && off < data.value().size());
    if (ok) sent += d.size;
  }
  return sent;
}

}  // namespace zbuild::proto
