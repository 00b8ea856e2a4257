#include "common/digest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace zbuild {

namespace {
constexpr char kHex[] = "0123456789abcdef";

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string Digest::hex() const {
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = kHex[(hi >> (4 * i)) & 0xf];
    out[31 - i] = kHex[(lo >> (4 * i)) & 0xf];
  }
  return out;
}

std::string Digest::str() const { return hex() + "-" + std::to_string(size); }

Result<Digest> Digest::parse(std::string_view text) {
  if (text.size() < 34 || text[32] != '-') return make_error("malformed digest '" + std::string(text) + "'");
  Digest d;
  for (int i = 0; i < 16; ++i) {
    int a = hexval(text[i]), b = hexval(text[16 + i]);
    if (a < 0 || b < 0) return make_error("malformed digest '" + std::string(text) + "'");
    d.hi = (d.hi << 4) | static_cast<uint64_t>(a);
    d.lo = (d.lo << 4) | static_cast<uint64_t>(b);
  }
  auto rest = text.substr(33);
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), d.size);
  if (ec != std::errc() || p != rest.data() + rest.size()) {
    return make_error("malformed digest size in '" + std::string(text) + "'");
  }
  return d;
}

Digest digest_bytes(std::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return Digest{h.high64, h.low64, data.size()};
}

Result<Digest> digest_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(path.string() + ": " + std::strerror(errno));
  Hasher h;
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return make_error(path.string() + ": " + std::strerror(e));
    }
    if (n == 0) break;
    h.update(std::string_view(buf.data(), static_cast<size_t>(n)));
  }
  ::close(fd);
  return h.finish();
}

Hasher::Hasher() : state_(XXH3_createState()) { XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)); }
Hasher::~Hasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Hasher::update(std::string_view data) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
  size_ += data.size();
}

void Hasher::field(std::string_view data) {
  field(static_cast<uint64_t>(data.size()));
  update(data);
}

void Hasher::field(uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  update(std::string_view(b, 8));
}

Digest Hasher::finish() {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  return Digest{h.high64, h.low64, size_};
}

}  // namespace zbuild
