// The daemon's trust components alone: the blob assembler's caps and the action cache's
// write-after-validation rule, on the memory store.
#include <catch2/catch.hpp>

#include "daemon/action_cache.h"
#include "daemon/blob_assembler.h"

using namespace zbuild;
using namespace zbuild::daemon;

TEST_CASE("blob assembler reserves what arrived, not what is claimed") {
  BlobAssembler a;
  Digest huge{1, 2, 4ull << 30};   // claims 4 GiB
  auto r = a.add("c:x", huge, 0, std::string(1024, 'x'), 0);
  REQUIRE(r.ok());
  REQUIRE(a.bytes_in_progress() == 1024u);
}

TEST_CASE("blob assembler caps per sender, per count and in all") {
  BlobAssemblerLimits lim;
  lim.per_sender = 4096;
  lim.global = 6144;
  lim.max_partials = 2;
  BlobAssembler a(lim);
  std::string kb(1024, 'k');
  REQUIRE(a.add("s1", Digest{1, 1, 1 << 20}, 0, kb, 0).ok());
  REQUIRE(a.add("s1", Digest{2, 2, 1 << 20}, 0, kb, 0).ok());
  auto third = a.add("s1", Digest{3, 3, 1 << 20}, 0, kb, 0);   // a third unfinished blob
  REQUIRE_FALSE(third.ok());
  REQUIRE(a.add("s1", Digest{1, 1, 1 << 20}, 1024, kb, 0).ok());
  REQUIRE(a.add("s1", Digest{1, 1, 1 << 20}, 2048, kb, 0).ok());
  auto over = a.add("s1", Digest{1, 1, 1 << 20}, 3072, kb, 0);   // 5 KiB > 4 KiB per sender
  REQUIRE_FALSE(over.ok());
  REQUIRE(a.bytes_in_progress() == 1024u);   // the refused partial was dropped
  REQUIRE(a.add("s2", Digest{4, 4, 1 << 20}, 0, std::string(4096, 'x'), 0).ok());
  auto global = a.add("s3", Digest{5, 5, 1 << 20}, 0, std::string(2048, 'x'), 0);   // 7 KiB > 6 KiB
  REQUIRE_FALSE(global.ok());
  REQUIRE(a.refused() == 3u);
}

TEST_CASE("blob assembler drops quiet and departed senders") {
  BlobAssemblerLimits lim;
  lim.idle_ms = 1000;
  BlobAssembler a(lim);
  REQUIRE(a.add("quiet", Digest{1, 1, 100}, 0, "abc", 0).ok());
  REQUIRE(a.add("busy", Digest{2, 2, 100}, 0, "abc", 0).ok());
  REQUIRE(a.add("busy", Digest{2, 2, 100}, 3, "def", 900).ok());
  REQUIRE(a.expire(1500) == 1u);
  REQUIRE(a.partials() == 1u);
  a.drop_sender("busy");
  REQUIRE(a.partials() == 0u);
  REQUIRE(a.bytes_in_progress() == 0u);
}

TEST_CASE("blob assembler checks the digest of a finished blob") {
  BlobAssembler a;
  std::string data = "hello world";
  Digest d = digest_bytes(data);
  REQUIRE(a.add("s", d, 0, data.substr(0, 5), 0).ok());
  auto done = a.add("s", d, 5, data.substr(5), 0);
  REQUIRE(done.ok());
  REQUIRE(done.value());
  REQUIRE(*done.value() == data);
  Digest lie{d.hi ^ 1, d.lo, d.size};
  REQUIRE_FALSE(a.add("s", lie, 0, data, 0).ok());
  REQUIRE(a.bytes_in_progress() == 0u);
}

namespace {
Outcome outcome_with(store::Store& st, std::vector<std::pair<std::string, std::string>> files) {
  Outcome o;
  for (auto& [path, content] : files) {
    Digest d = digest_bytes(content);
    REQUIRE(st.put_blob(d, content).ok());
    o.outputs.push_back(OutputSpec{path, d, false});
  }
  o.worker = "w1";
  return o;
}
}  // namespace

TEST_CASE("action cache writes only exactly the declared outputs") {
  auto st = store::make_memory_store();
  ActionCache ac(*st);
  Digest key = digest_bytes("action");
  std::vector<std::string> declared = {"obj/a.o"};

  auto extra = outcome_with(*st, {{"obj/a.o", "A"}, {".git/hooks/pre-commit", "#!/bin/sh\nevil\n"}});
  auto r = ac.record(key, declared, extra);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().message.find(".git/hooks/pre-commit") != std::string::npos);
  REQUIRE_FALSE(st->get_action(key).value());

  auto missing = outcome_with(*st, {});
  REQUIRE_FALSE(ac.record(key, declared, missing).ok());

  Outcome absent;
  absent.outputs.push_back(OutputSpec{"obj/a.o", digest_bytes("never uploaded"), false});
  REQUIRE_FALSE(ac.record(key, declared, absent).ok());

  auto twice = outcome_with(*st, {{"obj/a.o", "A"}, {"obj/a.o", "B"}});
  REQUIRE_FALSE(ac.record(key, declared, twice).ok());

  auto failed = outcome_with(*st, {{"obj/a.o", "A"}});
  failed.exit_code = 1;
  REQUIRE_FALSE(ac.record(key, declared, failed).ok());

  auto good = outcome_with(*st, {{"obj/a.o", "A"}});
  REQUIRE(ac.record(key, declared, good).ok());
  auto hit = ac.lookup(key, declared);
  REQUIRE(hit);
  REQUIRE(hit->outputs.size() == 1u);
  REQUIRE(hit->outputs[0].path == "obj/a.o");
  // A task declaring other outputs never gets this entry as a hit.
  REQUIRE_FALSE(ac.lookup(key, {"obj/a.o", "obj/b.o"}));
}

TEST_CASE("action cache ignores a corrupt entry") {
  auto st = store::make_memory_store();
  ActionCache ac(*st);
  Digest key = digest_bytes("k");
  REQUIRE(st->put_action(key, "not a flatbuffer").ok());
  std::string err;
  REQUIRE_FALSE(ac.lookup(key, {"x"}, &err));
  REQUIRE(err.find("corrupt") != std::string::npos);
}

#include "daemon/blob_service.h"
#include "proto/wire.h"

TEST_CASE("blob service stores a checked upload and serves it back in chunks") {
  auto st = store::make_memory_store();
  FakeClock clock;
  BlobService svc(*st, clock);
  std::string data(proto::kChunkSize + 100, 'z');
  Digest d = digest_bytes(data);
  auto chunk = [&](uint64_t off, size_t len) {
    flatbuffers::FlatBufferBuilder fbb;
    auto wd = proto::to_wire(d);
    return proto::finish(fbb, wire::CreateBlobChunk(fbb, &wd, off,
                                                    fbb.CreateVector(reinterpret_cast<const uint8_t*>(data.data() + off), len)));
  };
  auto first = chunk(0, proto::kChunkSize);
  auto second = chunk(proto::kChunkSize, 100);
  REQUIRE(svc.receive("c:1", proto::decode(first.data(), first.size(), proto::kMaxClientMessage).value()->body_as_BlobChunk()).empty());
  REQUIRE_FALSE(st->get_blob(d).value());
  REQUIRE(svc.receive("c:1", proto::decode(second.data(), second.size(), proto::kMaxClientMessage).value()->body_as_BlobChunk()).empty());
  REQUIRE(st->get_blob(d).value());
  REQUIRE(svc.bytes_received() == data.size());

  flatbuffers::FlatBufferBuilder req;
  std::vector<wire::ChunkRef> refs{wire::ChunkRef(proto::to_wire(d), 0, 0),
                                   wire::ChunkRef(proto::to_wire(d), proto::kChunkSize, 0),
                                   wire::ChunkRef(proto::to_wire(digest_bytes("absent")), 0, 0)};
  auto msg = proto::finish(req, wire::CreateBlobRequest(req, req.CreateVectorOfStructs(refs)), 5);
  std::vector<std::string> sent;
  svc.serve(proto::decode(msg.data(), msg.size(), proto::kMaxClientMessage).value()->body_as_BlobRequest(), 5,
            [&](const std::string& m) { sent.push_back(m); }, [](const std::string&) {});
  REQUIRE(sent.size() == 3u);
  std::string back;
  for (int i = 0; i < 2; ++i) {
    auto* c = proto::decode(sent[i].data(), sent[i].size(), proto::kMaxClientMessage).value()->body_as_BlobChunk();
    REQUIRE_FALSE(c->missing());
    back += std::string(proto::bytes(c->data()));
  }
  REQUIRE(back == data);
  REQUIRE(proto::decode(sent[2].data(), sent[2].size(), proto::kMaxClientMessage).value()->body_as_BlobChunk()->missing());
}

TEST_CASE("blob assembler accounting survives a corrupt last chunk") {
  BlobAssembler a;
  std::string data = "0123456789";
  Digest d = digest_bytes(data);
  REQUIRE(a.add("s", d, 0, data.substr(0, 4), 0).ok());
  REQUIRE(a.bytes_in_progress() == 4u);
  REQUIRE_FALSE(a.add("s", d, 4, "XXXXXX", 0).ok());   // right size, wrong bytes
  REQUIRE(a.bytes_in_progress() == 0u);
  REQUIRE(a.partials() == 0u);
  REQUIRE(a.add("s", d, 0, data, 0).ok());
}
