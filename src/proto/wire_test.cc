#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "proto/wire.h"

using namespace zbuild;

namespace {

std::string blob_request(uint64_t rid) {
  flatbuffers::FlatBufferBuilder fbb(256);
  std::vector<wire::ChunkRef> items{wire::ChunkRef(wire::Digest(1, 2, 3), 0, 3),
                                    wire::ChunkRef(wire::Digest(4, 5, 6000000), 524288, 1000)};
  return proto::finish(fbb, wire::CreateBlobRequest(fbb, fbb.CreateVectorOfStructs(items)), rid);
}

// An aligned buffer holding `bytes` from byte `shift` on.
struct Placed {
  std::vector<uint64_t> storage;
  const uint8_t* data = nullptr;
  Placed(const std::string& bytes, size_t shift) : storage((bytes.size() + shift) / 8 + 1) {
    auto* p = reinterpret_cast<uint8_t*>(storage.data()) + shift;
    std::memcpy(p, bytes.data(), bytes.size());
    data = p;
  }
};

void put16(std::string& b, size_t at, uint16_t v) { std::memcpy(&b[at], &v, 2); }
void put32(std::string& b, size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); }
void put64(std::string& b, size_t at, uint64_t v) { std::memcpy(&b[at], &v, 8); }

// An Envelope by hand, as a hostile peer could write it: its body (union member `type`) has a
// vector of one `elem_size`-byte struct as field 0, whose element starts 4 bytes past an
// 8-byte boundary when `misaligned`, on one otherwise. Every offset is legal either way.
std::string one_struct_vector(wire::Body type, size_t elem_size, bool misaligned) {
  const size_t vec = misaligned ? 48 : 52;   // the element follows the 4-byte length
  std::string b(vec + 4 + elem_size, '\0');
  put32(b, 0, 16);                            // root: the Envelope table at 16
  put16(b, 4, 12); put16(b, 6, 12);           // its vtable: 4 fields, table of 12 bytes
  put16(b, 8, 0); put16(b, 10, 0);            //   version (default 1), request_id absent
  put16(b, 12, 4); put16(b, 14, 8);           //   body_type at +4, body at +8
  put32(b, 16, 12);                           // Envelope: soffset to its vtable
  b[20] = static_cast<char>(type);
  put32(b, 24, 36 - 24);                      // body: the table at 36
  put16(b, 28, 6); put16(b, 30, 8); put16(b, 32, 4);   // body vtable: field 0 at +4
  put32(b, 36, 8);                            // body: soffset to its vtable
  put32(b, 40, static_cast<uint32_t>(vec - 40));
  put32(b, vec, 1);                           // one element
  put64(b, vec + 4, 0x1111);
  return b;
}

std::string read_schema() {
  std::ifstream in(ZBUILD_SCHEMA);   // set by src/proto/meson.build
  std::stringstream ss;
  ss << in.rdbuf();
  REQUIRE(!ss.str().empty());
  return std::regex_replace(ss.str(), std::regex("//[^\n]*"), "");
}

}  // namespace

TEST_CASE("decode reads an aligned frame in place") {
  auto bytes = blob_request(7);
  Placed p(bytes, 0);
  auto f = proto::decode(p.data, bytes.size(), proto::kMaxClientMessage);
  REQUIRE(f.ok());
  REQUIRE_FALSE(f.value().copied());
  REQUIRE(reinterpret_cast<const uint8_t*>(f.value().get()) >= p.data);
  REQUIRE(reinterpret_cast<const uint8_t*>(f.value().get()) < p.data + bytes.size());
  REQUIRE(f.value()->request_id() == 7);
}

TEST_CASE("decode realigns a frame at any misaligned address") {
  auto bytes = blob_request(9);
  for (size_t shift = 1; shift < proto::kFrameAlignment; ++shift) {
    INFO("shift " << shift);
    Placed p(bytes, shift);
    auto f = proto::decode(p.data, bytes.size(), proto::kMaxClientMessage);
    REQUIRE(f.ok());
    REQUIRE(f.value().copied());
    proto::Frame frame = std::move(f.value());   // moving keeps the envelope where it is
    REQUIRE(reinterpret_cast<uintptr_t>(frame.get()) % alignof(uint32_t) == 0);
    REQUIRE(frame->request_id() == 9);
    auto* items = frame->body_as_BlobRequest()->items();
    REQUIRE(items->size() == 2);
    REQUIRE(reinterpret_cast<uintptr_t>(items->Get(1)) % alignof(wire::ChunkRef) == 0);
    REQUIRE(proto::from_wire(&items->Get(1)->digest()) == Digest{4, 5, 6000000});
    REQUIRE(items->Get(1)->offset() == 524288);
  }
}

TEST_CASE("decode refuses a vector of structs whose elements are misaligned") {
  struct Case {
    wire::Body type;
    size_t elem_size;
  };
  for (auto c : {Case{wire::Body::BlobRequest, sizeof(wire::ChunkRef)}, Case{wire::Body::FindMissing, sizeof(wire::Digest)},
                 Case{wire::Body::MissingBlobs, sizeof(wire::Digest)}}) {
    INFO(proto::body_name(c.type));
    auto good = one_struct_vector(c.type, c.elem_size, false);
    Placed pg(good, 0);
    REQUIRE(proto::decode(pg.data, good.size(), proto::kMaxClientMessage).ok());   // the layout is valid...
    auto bad = one_struct_vector(c.type, c.elem_size, true);
    Placed pb(bad, 0);
    auto f = proto::decode(pb.data, bad.size(), proto::kMaxClientMessage);        // ...but for the element's place
    REQUIRE_FALSE(f.ok());
    REQUIRE(f.error().message.find("misaligned") != std::string::npos);
  }
}

TEST_CASE("decode accepts empty vectors of structs") {
  flatbuffers::FlatBufferBuilder fbb(64);
  std::vector<wire::Digest> none;
  auto bytes = proto::finish(fbb, wire::CreateMissingBlobs(fbb, fbb.CreateVectorOfStructs(none)), 3);
  Placed p(bytes, 0);
  REQUIRE(proto::decode(p.data, bytes.size(), proto::kMaxClientMessage).ok());
}

TEST_CASE("decode checks every vector of structs in the schema") {
  // The Verifier does not check these (wire.cc); when the schema gains one, decode's
  // struct_vectors_aligned() and the case above must name it too.
  std::string schema = read_schema();
  std::set<std::string> structs;
  std::regex struct_re(R"(\bstruct\s+(\w+))");
  for (std::sregex_iterator i(schema.begin(), schema.end(), struct_re), end; i != end; ++i) structs.insert((*i)[1]);
  REQUIRE(structs.count("Digest"));
  std::set<std::string> found;
  std::regex table_re(R"(\btable\s+(\w+)\s*\{([^}]*)\})");
  std::regex field_re(R"((\w+)\s*:\s*\[\s*(\w+)\s*\])");
  for (std::sregex_iterator t(schema.begin(), schema.end(), table_re), end; t != end; ++t) {
    std::string body = (*t)[2];
    for (std::sregex_iterator f(body.begin(), body.end(), field_re); f != end; ++f) {
      if (structs.count((*f)[2])) found.insert(std::string((*t)[1]) + "." + std::string((*f)[1]));
    }
  }
  REQUIRE(found == std::set<std::string>{"BlobRequest.items", "BlobWanted.digests", "FindMissing.digests", "MissingBlobs.digests"});
}

TEST_CASE("an input's produced_as crosses the wire, and a hostile one is refused") {
  auto round_trip = [](const std::string& produced_as) {
    ActionSpec a;
    a.argv = {"gcc", "-o", "prog", "x/a.o"};
    a.inputs = {InputSpec{"x/a.o", Digest{}, false, 1, produced_as}};
    flatbuffers::FlatBufferBuilder fbb(256);
    fbb.Finish(proto::build_action(fbb, a));
    return proto::parse_action(flatbuffers::GetRoot<wire::Action>(fbb.GetBufferPointer()));
  };
  auto ok = round_trip("zbuild-object-0123456789abcdef.o");
  REQUIRE(ok.ok());
  CHECK(ok.value().inputs.at(0).path == "x/a.o");
  CHECK(ok.value().inputs.at(0).produced_as == "zbuild-object-0123456789abcdef.o");
  auto none = round_trip("");
  REQUIRE(none.ok());
  CHECK(none.value().inputs.at(0).produced_as.empty());
  for (const char* bad : {"../outside.o", "/etc/passwd", "a/../../b"}) {
    INFO(bad);
    auto r = round_trip(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("producer output") != std::string::npos);
  }
}
