// One zbuild-cc's conversation with its daemon over the client endpoint: fetch and store the
// header manifest, upload the sources the store lacks, submit the compile as a build of one
// task, follow its events, and stream the object back to disk. Everything is bounded: at most
// two blob chunks in flight either way, so the runner's memory does not grow with the object.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/result.h"
#include "proto/action.h"
#include "proto/wire.h"
#include "runner/zmtp.h"

namespace zbuild::runner {

struct TaskOutcome {
  enum class Kind { Done, Cached, Failed, Infra } kind = Kind::Infra;
  int exit_code = 0;
  std::string out;
  std::string err;
  std::string message;    // infrastructure failure
  std::vector<OutputSpec> outputs;
};

// Round trips on a cache hit: four. The ZMTP handshake; GetManifests; FindMissing and
// SubmitBuild together (when a source is missing the daemon refuses that submission, the
// runner uploads and submits again); the object's chunks.
class Session {
 public:
  // A loopback address of a same-user daemon is reached through its private Unix socket.
  explicit Session(Address a) : addr_(prefer_local(std::move(a))) {}

  // Connects to the daemon's client endpoint, asks for the manifest stored under `key` and
  // returns it or nullopt. A refused connection (no daemon) fails at
  // once; a peer that does not answer fails after `timeout_ms`.
  Result<std::optional<std::string>> open(const std::string& key, int timeout_ms);
  // Fire and forget (the daemon's acknowledgement is dropped when it arrives).
  void put_manifest(const std::string& key, const std::string& value);
  // Submits `action` as a one-task build named `name` and waits for its final event. `sources`
  // (digest, absolute path) are the inputs to upload when the store lacks them. `predicted`,
  // when not empty, is the object expected: its first chunks are asked for in the same breath,
  // and download() uses them when the result names that digest.
  // `on_demand` (digest, absolute path): toolchain files and system headers, sent only when the
  // daemon asks for them (BlobWanted: a worker whose own files differ needs them).
  Result<TaskOutcome> run(const ActionSpec& action, const std::string& name,
                          const std::vector<std::pair<Digest, std::string>>& sources, const Digest& predicted = {},
                          const std::vector<std::pair<Digest, std::string>>& on_demand = {});
  // Downloads `o` to `rel` below `root` (temp file + rename, confined to the root: no folder
  // on the way may be a link leading out of it, a link at `rel` is replaced), checking its
  // digest.
  Status download(const OutputSpec& o, const std::string& root, const std::string& rel);

 private:
  // Next message answering `rid` (an ErrorReply included), valid until the next call (`buf`
  // holds it when it comes from the stash). Messages for other requests in flight are kept. An error after `silence_ms` without any
  // message from the daemon (pinged meanwhile, so a long compile is not a lost daemon).
  Result<proto::Frame> next(uint64_t rid, int64_t silence_ms, std::string& buf);
  Status upload(const std::vector<Digest>& missing, const std::vector<std::pair<Digest, std::string>>& sources,
                uint64_t rid);
  // Answers a BlobWanted on `rid`: each wanted blob `files` names, or `missing`; no acknowledgement awaited.
  void send_wanted(const wire::BlobWanted* w, const std::vector<std::pair<Digest, std::string>>& files, uint64_t rid);
  uint64_t submit(const ActionSpec& action, const std::string& name);

  void send(const std::string& payload);
  uint64_t next_request_id() { return ++request_id_; }

  // Asks for chunks of `d` from `*requested` on, keeping at most kChunkWindow in flight.
  void request_chunks(uint64_t rid, const Digest& d, uint64_t* requested, int* outstanding);

  Address addr_;
  ZmtpDealer conn_;
  struct Prefetch {
    uint64_t rid = 0;
    Digest digest;
    uint64_t requested = 0;
    int outstanding = 0;
  } prefetch_;
  uint64_t request_id_ = 0;
  Status broken_;                      // the first send error, reported by the next receive
  std::vector<std::string> stash_;     // replies to other requests, in arrival order
};

}  // namespace zbuild::runner
