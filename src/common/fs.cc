#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace zbuild {

namespace {
std::string errno_msg(const std::filesystem::path& p, const char* op) {
  return p.string() + ": " + op + ": " + std::strerror(errno);
}
std::atomic<uint64_t> g_tmp_counter{0};
}  // namespace

Result<std::string> read_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno_msg(path, "open"));
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto e = make_error(errno_msg(path, "read"));
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path, bool executable)
    : path_(std::move(path)), executable_(executable) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

Status AtomicFileWriter::open() {
  std::error_code ec;
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
  tmp_ = path_;
  tmp_ += ".zbuild-tmp." + std::to_string(::getpid()) + "." + std::to_string(g_tmp_counter++);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, executable_ ? 0755 : 0644);
  if (fd_ < 0) {
    auto e = make_error(errno_msg(tmp_, "create"));
    tmp_.clear();
    return e;
  }
  return {};
}

Status AtomicFileWriter::append(std::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(errno_msg(tmp_, "write"));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return {};
}

Status AtomicFileWriter::commit() {
  if (::close(fd_) != 0) {
    fd_ = -1;
    return make_error(errno_msg(tmp_, "close"));
  }
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return make_error(errno_msg(path_, "rename"));
  committed_ = true;
  return {};
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view data, bool executable) {
  AtomicFileWriter w(path, executable);
  ZB_TRY(w.open());
  ZB_TRY(w.append(data));
  return w.commit();
}

bool is_executable_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR);
}

}  // namespace zbuild
