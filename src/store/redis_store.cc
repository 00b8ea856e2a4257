// Redis backend (hiredis 0.14, synchronous API). Keys: "zb:cas:<digest>", "zb:ac:<key>",
// "zb:meta:<key>", "zb:format". Blobs over kPieceSize are stored as pieces
// "zb:cas:<digest>:<i>" plus a small header under "zb:cas:<digest>"; see docs/store-format.md.
// Every command that fails on the connection is retried once on a fresh connection (all
// commands here are idempotent); a second failure is returned as an Error naming the URL.
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include <charconv>
#include <cstring>
#include <mutex>

#include "store/store.h"

namespace zbuild::store {
namespace {

constexpr uint64_t kPieceSize = 1 << 20;      // blobs larger than this are split
constexpr uint64_t kPiecesPerRound = 8;       // pieces per pipelined round trip (bounds memory)
constexpr size_t kExistsPerRound = 1024;      // EXISTS commands per pipelined round trip
constexpr const char kFormatKey[] = "zb:format";
constexpr const char kFormatVersion[] = "1";
constexpr timeval kConnectTimeout{2, 0};
constexpr timeval kCommandTimeout{30, 0};

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

// One command's arguments; views must outlive the call that sends them.
using Command = std::vector<std::string_view>;

struct Url {
  std::string host;
  int port = 6379;
  std::string unix_path;   // redis+unix://PATH: a Unix socket instead of host and port
  int db = 0;
};

Result<Url> parse_url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return make_error(url + ": bad Redis URL (" + why + "; expected redis://HOST:PORT[/DB] or redis+unix://PATH[?db=DB])");
  };
  std::string_view rest(url);
  Url u;
  if (rest.starts_with("redis+unix://")) {
    rest.remove_prefix(13);
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      std::string_view db = rest.substr(q + 1);
      rest = rest.substr(0, q);
      if (!db.starts_with("db=")) return bad("the only query is db=DB");
      db.remove_prefix(3);
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), u.db);
      if (ec != std::errc() || p != db.data() + db.size() || u.db < 0) return bad("database is not a number");
    }
    if (!rest.starts_with("/")) return bad("the socket's path is not absolute");
    u.unix_path = std::string(rest);
    return u;
  }
  if (!rest.starts_with("redis://")) return bad("scheme is not redis://");
  rest.remove_prefix(8);
  std::string_view hostport = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), u.db);
      if (ec != std::errc() || p != db.data() + db.size() || u.db < 0) return bad("database is not a number");
    }
  }
  std::string_view port;
  if (hostport.starts_with("[")) {  // [IPv6]:port
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return bad("unclosed '['");
    u.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("junk after ']'");
      port = after.substr(1);
    }
  } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    u.host = std::string(hostport.substr(0, colon));
    port = hostport.substr(colon + 1);
  } else {
    u.host = std::string(hostport);
  }
  if (u.host.empty()) return bad("no host");
  if (!port.empty()) {
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), u.port);
    if (ec != std::errc() || p != port.data() + port.size() || u.port <= 0 || u.port > 65535) {
      return bad("port is not a number in 1..65535");
    }
  }
  return u;
}

std::string cas_key(const Digest& d) { return "zb:cas:" + d.str(); }
std::string piece_key(const Digest& d, uint64_t i) { return cas_key(d) + ":" + std::to_string(i); }
uint64_t piece_count(const Digest& d) { return (d.size + kPieceSize - 1) / kPieceSize; }
bool is_pieced(const Digest& d) { return d.size > kPieceSize; }
// Header stored under cas_key() for pieced blobs: "zbpieces <count> <piece size>".
std::string piece_header(const Digest& d) {
  return "zbpieces " + std::to_string(piece_count(d)) + " " + std::to_string(kPieceSize);
}

std::string_view reply_text(const redisReply* r) { return std::string_view(r->str, r->len); }

// A numeric "name:value" line of an INFO reply.
void info_field(const redisReply* info, std::string_view name, uint64_t* out) {
  if (info->type != REDIS_REPLY_STRING) return;
  std::string_view text = reply_text(info);
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (line.starts_with(name)) {
      line.remove_prefix(name.size());
      std::from_chars(line.data(), line.data() + line.size(), *out);
      return;
    }
    pos = eol + 1;
  }
}

class RedisStore final : public Store {
 public:
  RedisStore(std::string url, Url u) : url_(std::move(url)), u_(std::move(u)) {}

  Status open() {
    std::lock_guard lock(mu_);
    ZB_TRY(connect());
    // Claim an empty database for format 1, then check what is there.
    auto r = run({{"SET", kFormatKey, kFormatVersion, "NX"}, {"GET", kFormatKey}});
    if (!r.ok()) return r.error();
    const redisReply* v = r.value()[1].get();
    if (v->type != REDIS_REPLY_STRING) return make_error(url_ + ": cannot read " + kFormatKey);
    if (reply_text(v) != kFormatVersion) {
      return make_error(url_ + ": store format '" + std::string(reply_text(v)) +
                        "' is not supported by this zbuild (it reads format " + kFormatVersion +
                        "); use another Redis database or FLUSHDB this one");
    }
    return {};
  }

  Result<bool> has_blob(const Digest& d) override { return has_through_missing(d); }

  // One EXISTS per digest, pipelined. A pieced blob counts as present only when its header
  // and every piece exist (eviction removes keys independently).
  Result<std::vector<Digest>> missing_blobs(const std::vector<Digest>& digests) override {
    std::lock_guard lock(mu_);
    std::vector<Digest> missing;
    for (size_t start = 0; start < digests.size(); start += kExistsPerRound) {
      size_t end = std::min(digests.size(), start + kExistsPerRound);
      std::vector<std::vector<std::string>> keys(end - start);
      std::vector<Command> cmds(end - start);
      for (size_t i = start; i < end; ++i) {
        auto& k = keys[i - start];
        k.push_back(cas_key(digests[i]));
        if (is_pieced(digests[i])) {
          for (uint64_t p = 0; p < piece_count(digests[i]); ++p) k.push_back(piece_key(digests[i], p));
        }
        auto& c = cmds[i - start];
        c.push_back("EXISTS");
        for (const auto& key : k) c.push_back(key);
      }
      auto r = run(cmds);
      if (!r.ok()) return r.error();
      for (size_t i = start; i < end; ++i) {
        const redisReply* rep = r.value()[i - start].get();
        if (rep->type != REDIS_REPLY_INTEGER) return unexpected("EXISTS " + keys[i - start][0], rep);
        if (static_cast<size_t>(rep->integer) != keys[i - start].size()) missing.push_back(digests[i]);
      }
    }
    return missing;
  }

  Status put_blob(const Digest& d, std::string_view data) override {
    std::lock_guard lock(mu_);
    if (!is_pieced(d)) return set(cas_key(d), data);
    // Pieces first, header last: a reader that sees the header finds every piece written.
    const uint64_t n = piece_count(d);
    for (uint64_t first = 0; first < n; first += kPiecesPerRound) {
      uint64_t last = std::min(n, first + kPiecesPerRound);
      std::vector<std::string> keys;
      std::vector<Command> cmds;
      for (uint64_t i = first; i < last; ++i) keys.push_back(piece_key(d, i));
      for (uint64_t i = first; i < last; ++i) {
        cmds.push_back({"SET", keys[i - first], data.substr(i * kPieceSize, kPieceSize)});
      }
      auto r = run(cmds);
      if (!r.ok()) return r.error();
      for (size_t i = 0; i < cmds.size(); ++i) ZB_TRY(expect_ok("SET " + keys[i], r.value()[i].get()));
    }
    return set(cas_key(d), piece_header(d));
  }

  // Returns the blob only if it is complete and hashes to `d`; anything else (a missing
  // piece, a foreign or truncated value) reads as absent.
  Result<std::optional<std::string>> get_blob(const Digest& d) override {
    std::lock_guard lock(mu_);
    const std::optional<std::string> absent;
    auto head = get(cas_key(d));
    if (!head.ok()) return head.error();
    if (!head.value()) return absent;
    std::string data;
    if (!is_pieced(d)) {
      data = std::move(*head.value());
    } else {
      if (*head.value() != piece_header(d)) return absent;
      const uint64_t n = piece_count(d);
      data.reserve(d.size);
      for (uint64_t first = 0; first < n; first += kPiecesPerRound) {
        uint64_t last = std::min(n, first + kPiecesPerRound);
        std::vector<std::string> keys;
        std::vector<Command> cmds;
        for (uint64_t i = first; i < last; ++i) keys.push_back(piece_key(d, i));
        for (const auto& k : keys) cmds.push_back({"GET", k});
        auto r = run(cmds);
        if (!r.ok()) return r.error();
        for (size_t i = 0; i < cmds.size(); ++i) {
          const redisReply* rep = r.value()[i].get();
          if (rep->type == REDIS_REPLY_NIL) return absent;
          if (rep->type != REDIS_REPLY_STRING) return unexpected("GET " + keys[i], rep);
          data.append(rep->str, rep->len);
        }
      }
    }
    if (data.size() != d.size || digest_bytes(data) != d) return absent;
    return std::optional<std::string>(std::move(data));
  }

  Status put_action(const Digest& key, std::string_view result) override {
    std::lock_guard lock(mu_);
    return set("zb:ac:" + key.str(), result);
  }
  Result<std::optional<std::string>> get_action(const Digest& key) override {
    std::lock_guard lock(mu_);
    return get("zb:ac:" + key.str());
  }
  Status put_meta(std::string_view key, std::string_view value) override {
    std::lock_guard lock(mu_);
    return set("zb:meta:" + std::string(key), value);
  }
  Result<std::optional<std::string>> get_meta(std::string_view key) override {
    std::lock_guard lock(mu_);
    return get("zb:meta:" + std::string(key));
  }

  // blob_count, blob_bytes and action_count from the keys (count_keys); stored_bytes is INFO
  // memory's used_memory. The cap is the server's: max_bytes is its maxmemory, evictions its
  // evicted_keys (since the server started). Zeros when Redis is unreachable.
  StoreStats stats() override {
    std::lock_guard lock(mu_);
    StoreStats s;
    s.backend = url_;
    auto r = run({{"INFO", "memory"}, {"INFO", "stats"}});
    if (!r.ok()) return s;
    info_field(r.value()[0].get(), "used_memory:", &s.stored_bytes);
    info_field(r.value()[0].get(), "maxmemory:", &s.max_bytes);
    info_field(r.value()[1].get(), "evicted_keys:", &s.evictions);
    count_keys(s);
    return s;
  }

 private:
  // Blobs and actions by their keys (SCAN over zb:*, so other applications' keys in the same
  // database, pieces, meta and the format key are not counted). A blob's size is in its
  // digest, so blob_bytes needs no value read. One pass over the keys: O(keys), as often as
  // `zbuild status` asks. A connection lost midway leaves the counts of the keys seen.
  void count_keys(StoreStats& s) {
    std::string cursor = "0";
    do {
      auto r = run({{"SCAN", cursor, "MATCH", "zb:*", "COUNT", "1000"}});
      if (!r.ok()) return;
      const redisReply* rep = r.value()[0].get();
      if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
          rep->element[1]->type != REDIS_REPLY_ARRAY) {
        return;
      }
      cursor = std::string(reply_text(rep->element[0]));
      const redisReply* keys = rep->element[1];
      for (size_t i = 0; i < keys->elements; ++i) {
        if (keys->element[i]->type != REDIS_REPLY_STRING) continue;
        std::string_view k = reply_text(keys->element[i]);
        if (k.starts_with("zb:ac:")) {
          s.action_count++;
        } else if (k.starts_with("zb:cas:")) {
          auto d = Digest::parse(k.substr(7));
          if (!d.ok() || k.size() != 7 + d.value().str().size()) continue;   // a piece, or not ours
          s.blob_count++;
          s.blob_bytes += d.value().size;
        }
      }
    } while (cursor != "0");
  }

  Status connect() {
    ctx_.reset(u_.unix_path.empty() ? redisConnectWithTimeout(u_.host.c_str(), u_.port, kConnectTimeout)
                                    : redisConnectUnixWithTimeout(u_.unix_path.c_str(), kConnectTimeout));
    if (!ctx_) return make_error(url_ + ": cannot connect to Redis: out of memory");
    if (ctx_->err) {
      std::string why = ctx_->errstr;
      ctx_.reset();
      return make_error(url_ + ": cannot connect to Redis: " + why);
    }
    if (redisSetTimeout(ctx_.get(), kCommandTimeout) != REDIS_OK) {
      std::string why = ctx_->errstr;
      ctx_.reset();
      return make_error(url_ + ": cannot set Redis socket timeout: " + why);
    }
    if (u_.db != 0) {
      std::string db = std::to_string(u_.db);
      auto r = send({{"SELECT", db}});
      if (!r.ok()) {
        ctx_.reset();
        return r.error();
      }
      Status ok = expect_ok("SELECT " + db, r.value()[0].get());
      if (!ok.ok()) {
        ctx_.reset();
        return ok;
      }
    }
    return {};
  }

  // Sends `cmds` as one pipeline and reads every reply. A connection failure drops the
  // context and returns an Error; replies of type ERROR are returned as replies.
  Result<std::vector<Reply>> send(const std::vector<Command>& cmds) {
    std::vector<const char*> argv;
    std::vector<size_t> argvlen;
    for (const Command& c : cmds) {
      argv.clear();
      argvlen.clear();
      for (std::string_view a : c) {
        argv.push_back(a.data());
        argvlen.push_back(a.size());
      }
      if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), argvlen.data()) != REDIS_OK) {
        return connection_lost();
      }
    }
    std::vector<Reply> replies;
    replies.reserve(cmds.size());
    for (size_t i = 0; i < cmds.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) return connection_lost();
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    return replies;
  }

  Error connection_lost() {
    std::string why = ctx_ && ctx_->errstr[0] ? ctx_->errstr : "connection lost";
    ctx_.reset();
    return make_error(url_ + ": Redis connection failed: " + why);
  }

  // send() with one reconnect: after a broken connection the pipeline is replayed once on a
  // fresh connection (every command used here is idempotent).
  Result<std::vector<Reply>> run(const std::vector<Command>& cmds) {
    bool fresh = false;
    if (!ctx_) {
      ZB_TRY(connect());
      fresh = true;
    }
    auto r = send(cmds);
    if (r.ok() || fresh) return r;
    ZB_TRY(connect());
    return send(cmds);
  }

  Status set(const std::string& key, std::string_view value) {
    auto r = run({{"SET", key, value}});
    if (!r.ok()) return r.error();
    return expect_ok("SET " + key, r.value()[0].get());
  }

  Result<std::optional<std::string>> get(const std::string& key) {
    auto r = run({{"GET", key}});
    if (!r.ok()) return r.error();
    const redisReply* rep = r.value()[0].get();
    if (rep->type == REDIS_REPLY_NIL) return std::optional<std::string>();
    if (rep->type != REDIS_REPLY_STRING) return unexpected("GET " + key, rep);
    return std::optional<std::string>(std::string(rep->str, rep->len));
  }

  Status expect_ok(const std::string& what, const redisReply* rep) {
    if (rep->type == REDIS_REPLY_STATUS) return {};
    return unexpected(what, rep);
  }

  Error unexpected(const std::string& what, const redisReply* rep) {
    if (rep->type == REDIS_REPLY_ERROR) return make_error(url_ + ": " + what + ": " + std::string(reply_text(rep)));
    return make_error(url_ + ": " + what + ": unexpected reply type " + std::to_string(rep->type));
  }

  std::string url_;
  Url u_;
  std::mutex mu_;
  Context ctx_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_redis_store(const std::string& url) {
  auto u = parse_url(url);
  if (!u.ok()) return u.error();
  auto store = std::make_unique<RedisStore>(url, std::move(u).value());
  ZB_TRY(store->open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace zbuild::store
