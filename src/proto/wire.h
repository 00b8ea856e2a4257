// Encoding and checked decoding of wire messages (schemas/zbuild.fbs, protocol version 1).
// Every received frame goes through decode(): size cap first, then alignment, the FlatBuffers
// Verifier and the version check. Nothing reads a message that failed.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/result.h"
#include "proto/action.h"
#include "zbuild_generated.h"

namespace zbuild::proto {

constexpr uint16_t kProtocolVersion = 1;
constexpr size_t kChunkSize = 512 * 1024;               // bytes of blob per BlobChunk
constexpr size_t kMaxWorkerMessage = 8u << 20;          // ventilator, either direction
constexpr size_t kMaxSinkMessage = 16u << 20;           // results and output chunks
constexpr size_t kMaxClientMessage = 128u << 20;        // a SubmitBuild of a large graph
constexpr int kMaxPrefetch = 16;                        // Hello.prefetch: tasks a worker may queue beyond its slots

// The alignment every FlatBuffers read of a zbuild message needs: the widest scalar in the
// schema is 64 bits and no struct asks for more (wire.cc checks the structs).
constexpr size_t kFrameAlignment = alignof(uint64_t);

// A verified message, as decode() returns it. It reads the caller's bytes in place when they
// start at a kFrameAlignment boundary (the caller's buffer must then outlive it), and its own
// aligned copy when they do not: ZeroMQ makes no promise about where a message's data starts,
// and a misaligned root makes every 64-bit read undefined behaviour however well the offsets
// verified. Movable; the envelope stays where it is when the Frame moves.
class Frame {
 public:
  const wire::Envelope* get() const { return env_; }
  const wire::Envelope* operator->() const { return env_; }
  const wire::Envelope& operator*() const { return *env_; }
  bool copied() const { return copy_ != nullptr; }   // the bytes were misaligned

 private:
  friend Result<Frame> decode(const void* data, size_t size, size_t cap);
  const wire::Envelope* env_ = nullptr;
  std::unique_ptr<uint64_t[]> copy_;
};

// Checks a received frame: size cap, alignment (copies a misaligned frame, see Frame), the
// FlatBuffers Verifier, the alignment of every vector of structs (which the Verifier of
// FlatBuffers 2.0 does not check), the protocol version, and that the union has its body.
Result<Frame> decode(const void* data, size_t size, size_t cap);

// Finishes `fbb` with an Envelope around `body` and returns the bytes.
template <class T>
std::string finish(flatbuffers::FlatBufferBuilder& fbb, flatbuffers::Offset<T> body, uint64_t request_id = 0) {
  auto env = wire::CreateEnvelope(fbb, kProtocolVersion, request_id, wire::BodyTraits<T>::enum_value, body.Union());
  fbb.Finish(env);
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

inline wire::Digest to_wire(const Digest& d) { return wire::Digest(d.hi, d.lo, d.size); }
inline Digest from_wire(const wire::Digest* d) { return d ? Digest{d->hi(), d->lo(), d->size()} : Digest{}; }

inline std::string_view bytes(const flatbuffers::Vector<uint8_t>* v) {
  return v ? std::string_view(reinterpret_cast<const char*>(v->data()), v->size()) : std::string_view();
}
inline std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

flatbuffers::Offset<wire::Action> build_action(flatbuffers::FlatBufferBuilder& fbb, const ActionSpec& a);
// Checks the action's own invariants (relative, non-escaping paths; non-empty argv) and
// names the first violation.
Result<ActionSpec> parse_action(const wire::Action* a);

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::OutputFile>>> build_outputs(
    flatbuffers::FlatBufferBuilder& fbb, const std::vector<OutputSpec>& outs);
Result<std::vector<OutputSpec>> parse_outputs(const flatbuffers::Vector<flatbuffers::Offset<wire::OutputFile>>* v);

const char* body_name(wire::Body b);

// Answers a BlobWanted (client and zbuild-cc): each wanted blob `read` gives (checked against
// its digest) goes as BlobChunk uploads on `request_id`; one it cannot give is answered with a
// `missing` chunk. Every message goes to `send`. Returns the bytes sent.
uint64_t answer_wanted(const wire::BlobWanted* w, uint64_t request_id,
                       const std::function<Result<std::string>(const Digest&)>& read,
                       const std::function<void(const std::string&)>& send);

}  // namespace zbuild::proto
