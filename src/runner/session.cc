#include "runner/session.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/blob_writer.h"
#include "common/clock.h"
#include "common/fs.h"

namespace zbuild::runner {

namespace fbs = flatbuffers;

namespace {

constexpr int kChunkWindow = 2;       // blob chunks in flight (memory bound: 2 x 512 KiB)
constexpr int64_t kPingAfterMs = 2000;


}  // namespace

void Session::send(const std::string& payload) {
  if (!broken_.ok()) return;
  broken_ = conn_.send(payload);
}

Result<proto::Frame> Session::next(uint64_t rid, int64_t silence_ms, std::string& buf) {
  for (size_t i = 0; i < stash_.size(); ++i) {
    auto env = proto::decode(stash_[i].data(), stash_[i].size(), proto::kMaxClientMessage);
    if (env.ok() && env.value()->request_id() == rid) {
      buf = std::move(stash_[i]);
      stash_.erase(stash_.begin() + static_cast<std::ptrdiff_t>(i));
      return proto::decode(buf.data(), buf.size(), proto::kMaxClientMessage);
    }
  }
  int64_t heard = mono_ms();
  int64_t pinged = heard;
  for (;;) {
    if (!broken_.ok()) return make_error("daemon " + addr_.str() + ": " + broken_.error().message);
    auto got = conn_.recv(500);
    if (!got.ok()) return make_error("daemon " + addr_.str() + ": " + got.error().message);
    auto& m = got.value();
    int64_t now = mono_ms();
    if (!m) {
      if (now - heard >= silence_ms) {
        return make_error("the daemon at " + addr_.str() + " stopped answering (" +
                          std::to_string((now - heard) / 1000) + " s)");
      }
      if (now - pinged >= kPingAfterMs) {
        pinged = now;
        fbs::FlatBufferBuilder fbb(32);
        send(proto::finish(fbb, wire::CreateStatusRequest(fbb), 0));
      }
      continue;
    }
    heard = now;
    auto env = proto::decode(m->data(), m->size(), proto::kMaxClientMessage);
    if (!env.ok()) continue;
    uint64_t got_rid = env.value()->request_id();
    if (got_rid == rid) return env;   // points into the connection's buffer: valid until the next receive
    if (got_rid != 0 && got_rid <= request_id_ && stash_.size() < 64) stash_.emplace_back(*m);
  }
}

Result<std::optional<std::string>> Session::open(const std::string& key, int timeout_ms) {
  uint64_t rid = next_request_id();
  fbs::FlatBufferBuilder fbb(128);
  std::vector<std::string> keys{key};
  std::string ask = proto::finish(fbb, wire::CreateGetManifests(fbb, fbb.CreateVectorOfStrings(keys)), rid);
  conn_.max_message = proto::kMaxClientMessage;
  ZB_TRY(conn_.connect(addr_, addr_.port + 2, timeout_ms, ask));
  std::string buf;
  auto env = next(rid, timeout_ms, buf);
  if (!env.ok()) return env.error();
  if (auto* e = env.value()->body_as_ErrorReply()) return make_error("daemon: " + proto::str(e->message()));
  if (auto* ms = env.value()->body_as_Manifests(); ms && ms->entries()) {
    for (auto* e : *ms->entries()) {
      if (e && proto::str(e->key()) == key) return std::optional<std::string>(std::string(proto::bytes(e->value())));
    }
  }
  return std::optional<std::string>();
}

void Session::put_manifest(const std::string& key, const std::string& value) {
  fbs::FlatBufferBuilder fbb(256 + value.size());
  auto entry = wire::CreateManifestEntry(fbb, fbb.CreateString(key),
                                         fbb.CreateVector(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
  std::vector<fbs::Offset<wire::ManifestEntry>> es{entry};
  send(proto::finish(fbb, wire::CreatePutManifests(fbb, fbb.CreateVector(es)), next_request_id()));
}

Status Session::upload(const std::vector<Digest>& missing, const std::vector<std::pair<Digest, std::string>>& files,
                       uint64_t rid) {
  std::string buf;
  int outstanding = 0;
  auto wait_ack = [&]() -> Status {
    auto env = next(rid, 10000, buf);
    if (!env.ok()) return env.error();
    if (auto* e = env.value()->body_as_ErrorReply()) return make_error("daemon: " + proto::str(e->message()));
    if (auto* ack = env.value()->body_as_UploadAck()) {
      --outstanding;
      if (ack->error() && ack->error()->size()) return make_error("upload rejected: " + ack->error()->str());
    }
    return {};
  };
  std::vector<char> chunk(std::min<size_t>(proto::kChunkSize, 64 * 1024));
  for (auto& d : missing) {
    const std::string* path = nullptr;
    for (auto& f : files) {
      if (f.first == d) path = &f.second;
    }
    if (!path) continue;
    int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(*path + ": " + std::strerror(errno));
    uint64_t off = 0;
    Hasher h;
    Status st;
    do {
      size_t want = static_cast<size_t>(std::min<uint64_t>(proto::kChunkSize, d.size - off));
      if (chunk.size() < want) chunk.resize(want);
      ssize_t n = want ? ::pread(fd, chunk.data(), want, static_cast<off_t>(off)) : 0;
      if (n < 0 || static_cast<size_t>(n) != want) {
        st = make_error(*path + " changed while zbuild-cc read it");
        break;
      }
      h.update(std::string_view(chunk.data(), want));
      fbs::FlatBufferBuilder fbb(want + 128);
      auto wd = proto::to_wire(d);
      send(proto::finish(
          fbb, wire::CreateBlobChunk(fbb, &wd, off, fbb.CreateVector(reinterpret_cast<const uint8_t*>(chunk.data()), want)),
          rid));
      ++outstanding;
      off += want;
      while (outstanding >= kChunkWindow && st.ok()) st = wait_ack();
    } while (off < d.size && st.ok());
    ::close(fd);
    if (!st.ok()) return st;
    if (h.finish() != d) return make_error(*path + " changed while zbuild-cc read it");
  }
  while (outstanding > 0) ZB_TRY(wait_ack());
  return {};
}

void Session::send_wanted(const wire::BlobWanted* w, const std::vector<std::pair<Digest, std::string>>& files,
                          uint64_t rid) {
  proto::answer_wanted(
      w, rid,
      [&](const Digest& d) -> Result<std::string> {
        for (auto& f : files) {
          if (f.first == d) return read_file(f.second);
        }
        return make_error("not named by this compile");
      },
      [&](const std::string& m) { send(m); });
}

uint64_t Session::submit(const ActionSpec& action, const std::string& name) {
  uint64_t rid = next_request_id();
  fbs::FlatBufferBuilder fbb(4096);
  auto act = proto::build_action(fbb, action);
  std::vector<fbs::Offset<wire::SubmitTask>> ts{
      wire::CreateSubmitTask(fbb, fbb.CreateString(name), act, fbb.CreateVector(std::vector<uint32_t>{}))};
  send(proto::finish(fbb, wire::CreateSubmitBuild(fbb, fbb.CreateString(name), fbb.CreateVector(ts), false), rid));
  return rid;
}

void Session::request_chunks(uint64_t rid, const Digest& d, uint64_t* requested, int* outstanding) {
  std::vector<wire::ChunkRef> refs;
  while (*outstanding + static_cast<int>(refs.size()) < kChunkWindow && *requested < d.size) {
    uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(proto::kChunkSize, d.size - *requested));
    refs.emplace_back(proto::to_wire(d), *requested, len);
    *requested += len;
  }
  if (refs.empty()) return;
  *outstanding += static_cast<int>(refs.size());
  fbs::FlatBufferBuilder fbb(64 + refs.size() * 40);
  send(proto::finish(fbb, wire::CreateBlobRequest(fbb, fbb.CreateVectorOfStructs(refs)), rid));
}

Result<TaskOutcome> Session::run(const ActionSpec& action, const std::string& name,
                                 const std::vector<std::pair<Digest, std::string>>& sources, const Digest& predicted,
                                 const std::vector<std::pair<Digest, std::string>>& on_demand) {
  // FindMissing and the submission travel together; when something was missing the daemon
  // refuses that submission (it checks sources first), the runner uploads and submits again.
  uint64_t find_rid = next_request_id();
  {
    std::vector<wire::Digest> ask;
    ask.reserve(sources.size());
    for (auto& f : sources) ask.push_back(proto::to_wire(f.first));
    fbs::FlatBufferBuilder fbb(64 + ask.size() * 24);
    send(proto::finish(fbb, wire::CreateFindMissing(fbb, fbb.CreateVectorOfStructs(ask)), find_rid));
  }
  uint64_t rid = submit(action, name);
  if (!predicted.empty() && predicted.size > 0) {
    prefetch_ = Prefetch{next_request_id(), predicted, 0, 0};
    request_chunks(prefetch_.rid, predicted, &prefetch_.requested, &prefetch_.outstanding);
  }
  std::string buf;
  std::vector<Digest> missing;
  {
    auto env = next(find_rid, 10000, buf);
    if (!env.ok()) return env.error();
    if (auto* e = env.value()->body_as_ErrorReply()) return make_error("daemon: " + proto::str(e->message()));
    if (auto* mb = env.value()->body_as_MissingBlobs(); mb && mb->digests()) {
      for (auto* d : *mb->digests()) missing.push_back(proto::from_wire(d));
    }
  }
  bool resubmit_on_error = !missing.empty();
  if (!missing.empty()) ZB_TRY(upload(missing, sources, find_rid));
  TaskOutcome out;
  bool have = false;
  for (;;) {
    auto env = next(rid, 10000, buf);
    if (!env.ok()) return env.error();
    if (auto* e = env.value()->body_as_ErrorReply()) {
      if (!resubmit_on_error) return make_error("daemon refused the compile: " + proto::str(e->message()));
      resubmit_on_error = false;
      rid = submit(action, name);
      continue;
    }
    resubmit_on_error = false;
    if (auto* bw = env.value()->body_as_BlobWanted()) {
      send_wanted(bw, on_demand, rid);
      continue;
    }
    if (auto* te = env.value()->body_as_TaskEvent()) {
      switch (te->state()) {
        case wire::TaskState::Done: out.kind = TaskOutcome::Kind::Done; break;
        case wire::TaskState::Cached: out.kind = TaskOutcome::Kind::Cached; break;
        case wire::TaskState::Failed:
          out.kind = te->message() && te->message()->size() ? TaskOutcome::Kind::Infra : TaskOutcome::Kind::Failed;
          break;
        case wire::TaskState::Skipped: out.kind = TaskOutcome::Kind::Infra; break;
        default: continue;   // Queued, Running
      }
      have = true;
      out.exit_code = te->exit_code();
      out.out = std::string(proto::bytes(te->stdout_data()));
      out.err = std::string(proto::bytes(te->stderr_data()));
      out.message = proto::str(te->message());
      auto outs = proto::parse_outputs(te->outputs());
      if (!outs.ok()) return make_error("daemon sent a bad output list: " + outs.error().message);
      out.outputs = std::move(outs.value());
    } else if (env.value()->body_type() == wire::Body::BuildDone) {
      if (!have) return make_error("the daemon finished the build without a result");
      return out;
    }
  }
}

Status Session::download(const OutputSpec& o, const std::string& root, const std::string& rel) {
  uint64_t rid = 0, requested = 0;
  int outstanding = 0;
  if (prefetch_.rid && prefetch_.digest == o.digest) {   // the prediction was right: its chunks are on their way
    rid = prefetch_.rid;
    requested = prefetch_.requested;
    outstanding = prefetch_.outstanding;
  } else {
    rid = next_request_id();
  }
  prefetch_ = Prefetch{};
  FileBlobWriter w(o.digest);
  ZB_TRY(w.add(root, rel, o.executable));
  if (o.digest.size == 0) {   // nothing to fetch: the empty content is checked and written
    auto done = w.append(0, {});
    if (!done.ok()) return make_error("output " + o.path + ": " + done.error().message);
    return w.commit();
  }
  request_chunks(rid, o.digest, &requested, &outstanding);
  std::string buf;
  for (;;) {
    auto env = next(rid, 10000, buf);
    if (!env.ok()) return env.error();
    if (auto* e = env.value()->body_as_ErrorReply()) return make_error("daemon: " + proto::str(e->message()));
    auto* c = env.value()->body_as_BlobChunk();
    if (!c) continue;
    --outstanding;
    if (c->missing()) return make_error("output " + o.path + " (" + o.digest.str() + ") is missing in the store");
    if (proto::from_wire(c->digest()) != o.digest) return make_error("output " + o.path + ": chunk out of order");
    auto data = proto::bytes(c->data());
    auto done = w.append(c->offset(), data);
    if (!done.ok()) return make_error("output " + o.path + ": " + done.error().message);
    if (done.value()) return w.commit();
    if (data.empty()) return make_error("output " + o.path + ": empty chunk");
    request_chunks(rid, o.digest, &requested, &outstanding);
  }
}

}  // namespace zbuild::runner
