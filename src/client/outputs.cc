#include "client/outputs.h"

#include <algorithm>
#include <set>

#include "common/paths.h"
#include "common/text.h"

namespace zbuild::client {

namespace fbs = flatbuffers;

Status check_claimed_outputs(const graph::Task& task, const std::vector<OutputSpec>& claimed) {
  std::set<std::string> declared(task.outputs.begin(), task.outputs.end());
  for (const auto& o : claimed) {
    std::string what = "task '" + task.id + "': output";
    auto norm = normalize_relative(o.path, what);
    if (!norm.ok()) return make_error(norm.error().message + " (named by the daemon; nothing of the task is written)");
    if (norm.value() != o.path || !declared.count(o.path)) {
      return make_error(what + " '" + o.path +
                        "' named by the daemon is not one the task declares; nothing of the task is written");
    }
  }
  return {};
}

OutputWriter::OutputWriter(Send send, std::filesystem::path root, uint64_t request_id)
    : send_(std::move(send)), root_(std::move(root)), rid_(request_id) {}

void OutputWriter::want(const std::string& task_id, const OutputSpec& o) {
  auto key = o.digest.str();
  auto& p = pending_[key];
  p.digest = o.digest;
  p.targets.push_back(Target{task_id, o.path, o.executable});
  if (p.targets.size() == 1) queue_.push_back(key);
  pump();
}

Status OutputWriter::open_writer(Pending& p) {
  p.writer = std::make_unique<FileBlobWriter>(p.digest);
  for (const auto& t : p.targets) {
    auto st = p.writer->add(root_, t.path, t.executable);
    if (!st.ok()) return make_error("task '" + t.task_id + "': output '" + t.path + "': " + st.error().message);
  }
  return {};
}

Status OutputWriter::on_chunk(const wire::BlobChunk* c) {
  outstanding_ = std::max(0, outstanding_ - 1);
  Digest d = proto::from_wire(c->digest());
  auto it = pending_.find(d.str());
  if (it == pending_.end()) return {};
  Pending& p = it->second;
  auto fail = [&](std::string why) {
    std::string who = "task '" + p.targets[0].task_id + "': output '" + p.targets[0].path + "'";
    pending_.erase(it);   // the writer removes its temp files
    pump();
    return make_error(who + ": " + why);
  };
  if (c->missing()) return fail("blob " + d.str() + " is missing in the daemon's store");
  auto data = proto::bytes(c->data());
  if (!p.writer) {
    auto st = open_writer(p);
    if (!st.ok()) {
      pending_.erase(it);
      pump();
      return st;
    }
  }
  auto done = p.writer->append(c->offset(), data);
  if (!done.ok()) return fail(done.error().message);
  bytes_ += data.size();
  if (!done.value()) {
    if (data.empty()) return fail("blob " + d.str() + ": empty chunk");
    requests_.push_back({d, p.writer->have()});
    pump();
    return {};
  }
  auto st = p.writer->commit();
  if (!st.ok()) return fail(st.error().message);
  files_ += p.writer->files();
  // Paths that asked for this content after its first chunk arrived are fetched again.
  std::vector<Target> late(p.targets.begin() + static_cast<std::ptrdiff_t>(p.writer->files()), p.targets.end());
  std::string key = it->first;
  pending_.erase(it);
  if (!late.empty()) {
    auto& again = pending_[key];
    again.digest = d;
    again.targets = std::move(late);
    queue_.push_back(key);
  }
  pump();
  return {};
}

void OutputWriter::pump() {
  while (!queue_.empty()) {
    auto it = pending_.find(queue_.front());
    queue_.pop_front();
    if (it != pending_.end()) requests_.push_back({it->second.digest, 0});
  }
  std::vector<wire::ChunkRef> refs;
  while (!requests_.empty() && outstanding_ + static_cast<int>(refs.size()) < 32) {
    auto [d, off] = requests_.front();
    requests_.pop_front();
    refs.emplace_back(proto::to_wire(d), off, static_cast<uint32_t>(proto::kChunkSize));
  }
  if (refs.empty()) return;
  outstanding_ += static_cast<int>(refs.size());
  fbs::FlatBufferBuilder fbb(64 + refs.size() * 40);
  send_(proto::finish(fbb, wire::CreateBlobRequest(fbb, fbb.CreateVectorOfStructs(refs)), rid_));
}

}  // namespace zbuild::client
