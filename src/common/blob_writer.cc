#include "common/blob_writer.h"

namespace zbuild {

Result<bool> BlobWriter::append(uint64_t offset, std::string_view data) {
  if (offset != have_ || data.size() > want_.size - have_) {
    return make_error("blob " + want_.str() + ": chunk at offset " + std::to_string(offset) + " out of order");
  }
  ZB_TRY(write(data));
  hasher_.update(data);
  have_ += data.size();
  if (have_ < want_.size) return false;
  if (hasher_.finish() != want_) return make_error("blob " + want_.str() + ": content does not match its digest");
  return true;
}

}  // namespace zbuild
