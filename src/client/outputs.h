// The client's output side of `zbuild submit`: which outputs of a finished task it may write
// (exactly the ones the task declared in the graph), and the writer that fetches their blobs
// from the daemon and writes them under the root, confined to it: a folder on the way that is
// a symbolic link leading outside the root is refused, a link at the output path is replaced,
// never followed (common/fs.h, AtomicFileWriter with a root).
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/blob_writer.h"
#include "common/digest.h"
#include "common/fs.h"
#include "common/result.h"
#include "graph/graph.h"
#include "proto/action.h"
#include "proto/wire.h"

namespace zbuild::client {

// OK when every output the daemon names for `task` is a relative, normalised path inside the
// root that the task declared. Otherwise the error names the task and the first path that is
// not; none of that task's outputs is written then.
Status check_claimed_outputs(const graph::Task& task, const std::vector<OutputSpec>& claimed);

// Fetches finished tasks' outputs (BlobRequest, at most 32 chunks in flight) and writes each
// atomically under the root. Outputs with the same content are fetched once.
class OutputWriter {
 public:
  using Send = std::function<void(const std::string& payload)>;
  OutputWriter(Send send, std::filesystem::path root, uint64_t request_id);

  // Queues `o` (a checked output of task `task_id`) and asks for its first chunks.
  void want(const std::string& task_id, const OutputSpec& o);
  // Handles a BlobChunk addressed to this build. An error names the task and the path when a
  // write failed or was refused.
  Status on_chunk(const wire::BlobChunk* c);

  bool idle() const { return pending_.empty(); }
  uint64_t bytes() const { return bytes_; }
  uint64_t files() const { return files_; }

 private:
  struct Target {
    std::string task_id;
    std::string path;
    bool executable = false;
  };
  struct Pending {
    Digest digest;
    std::vector<Target> targets;
    std::unique_ptr<FileBlobWriter> writer;   // every target, opened on the first chunk
  };

  void pump();
  Status open_writer(Pending& p);

  Send send_;
  std::filesystem::path root_;
  uint64_t rid_;
  std::map<std::string, Pending> pending_;
  std::deque<std::string> queue_;
  std::deque<std::pair<Digest, uint64_t>> requests_;
  int outstanding_ = 0;
  uint64_t bytes_ = 0;
  uint64_t files_ = 0;
};

}  // namespace zbuild::client
