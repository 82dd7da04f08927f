// See startup.hpp.
#include "startup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/obs/log.hpp"
#include "dir_keys.hpp"
#include "tokens.hpp"

namespace chat::guildd {
namespace {

constexpr KeyKind kLoadOrder[] = {KeyKind::user, KeyKind::token, KeyKind::guild, KeyKind::channel,
                                  KeyKind::member};
constexpr int kFirstBackoffMs = 100;
constexpr int kMaxBackoffMs = 2000;

std::string token_path(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "admin.token").string();
}

// The token in the file, or "" when there is no readable file.
std::string read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

bool write_token_file(const std::string& path, const std::string& token, std::string& error) {
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  if (ec) {
    error = "cannot create " + p.parent_path().string() + ": " + ec.message();
    return false;
  }
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create " + tmp + ": " + std::strerror(errno);
    return false;
  }
  bool ok = ::fchmod(fd, 0600) == 0;  // the file may have existed with a looser mode
  size_t off = 0;
  while (ok && off < token.size()) {
    ssize_t n = ::write(fd, token.data() + off, token.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot write " + path + ": " + std::strerror(ok ? errno : saved);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

Startup::Startup(event_base* base, StoreClient& store, Directory& dir, DirSync& sync,
                 SnowflakeGenerator& ids, std::string data_dir, bool bootstrap_admin, Done done)
    : base_(base),
      store_(store),
      dir_(dir),
      sync_(sync),
      ids_(ids),
      data_dir_(std::move(data_dir)),
      bootstrap_admin_(bootstrap_admin),
      done_(std::move(done)) {
  timer_ = evtimer_new(base_, &Startup::on_timer, this);
}

Startup::~Startup() {
  if (timer_) event_free(timer_);
}

void Startup::start() {
  log::info("guild", "loading directory");
  scan_next();
}

void Startup::on_timer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Startup*>(arg);
  auto step = self->pending_;
  self->pending_ = nullptr;
  if (step) (self->*step)();
}

void Startup::retry(void (Startup::*step)(), const std::string& why) {
  ++attempts_;
  backoff_ms_ = backoff_ms_ ? std::min(backoff_ms_ * 2, kMaxBackoffMs) : kFirstBackoffMs;
  // One line on the first failure, then every tenth: stored may take a while to come up.
  if (attempts_ == 1 || attempts_ % 10 == 0)
    log::warn("guild", "stored not answering; retrying",
              {{"reason", why}, {"attempt", attempts_}, {"backoff_ms", backoff_ms_}});
  pending_ = step;
  timeval tv{backoff_ms_ / 1000, (backoff_ms_ % 1000) * 1000};
  evtimer_add(timer_, &tv);
}

void Startup::finish(bool ok, const std::string& error) {
  if (finished_) return;
  finished_ = true;
  done_(ok, error);
}

void Startup::scan_next() {
  if (kind_ >= std::size(kLoadOrder)) {
    log::notice("guild", "directory loaded",
                {{"records", loaded_},
                 {"skipped", skipped_},
                 {"pages", pages_},
                 {"users", dir_.user_count()},
                 {"guilds", dir_.guild_count()},
                 {"channels", dir_.channel_count()}});
    backoff_ms_ = 0;
    attempts_ = 0;
    ensure_admin();
    return;
  }
  // One page at a time (a reply must fit the bus's max payload): the next page of a kind
  // starts after the last key of the one before, until stored says no more remain.
  proto::StoreRequest req;
  req.op = "dir.scan";
  req.prefix = kind_prefix(kLoadOrder[kind_]);
  req.limit = 0;
  req.start_after = start_after_;
  store_.call_directory(req, [this](StoreResult& r) {
    if (r.unavailable) return retry(&Startup::scan_next, r.error);
    if (!r.ok)
      return finish(false, "stored refused dir.scan: " + std::to_string(r.status) + " " + r.error);
    if (r.reply.more && (r.reply.entries.empty() || r.reply.entries.back().key <= start_after_))
      return finish(false, "stored's dir.scan page does not advance");
    ++pages_;
    for (const proto::DirEntry& e : r.reply.entries) {
      std::string why;
      if (dir_.load(e, why)) {
        ++loaded_;
      } else {
        ++skipped_;
        log::warn("guild", "skipping bad directory record",
                  {{"key_size", e.key.size()}, {"error", why}});
      }
    }
    if (r.reply.more) {
      start_after_ = r.reply.entries.back().key;
    } else {
      start_after_.clear();
      ++kind_;
    }
    scan_next();
  });
}

void Startup::ensure_admin() {
  if (!bootstrap_admin_) {
    log::info("guild", "admin bootstrap left to the guildd serving shard 0");
    return finish(true, {});
  }
  std::string path = token_path(data_dir_);
  if (const proto::User* admin = dir_.first_admin()) {
    std::string have = read_token_file(path);
    const std::string* digest = dir_.token_digest(admin->id);
    if (!have.empty() && digest && sha256(have) == *digest && token_user_id(have) == admin->id)
      return finish(true, {});
    log::notice("guild", "admin token file missing or stale; issuing a new token",
                {{"user", admin->id}, {"path", path}});
    admin_ = *admin;
    admin_is_new_ = false;
  } else {
    admin_ = proto::User{};
    admin_.id = ids_.next();
    admin_.name = dir_.user_by_name("admin") ? "admin-" + std::to_string(admin_.id) : "admin";
    admin_.admin = true;
    admin_is_new_ = true;
    log::notice("guild", "first start: creating the admin user",
                {{"user", admin_.id}, {"name", admin_.name}});
  }
  admin_token_ = make_token(admin_.id);
  if (admin_token_.empty()) return finish(false, "random source failed; cannot issue a token");
  persist_admin();
}

void Startup::persist_admin() {
  std::string digest = sha256(admin_token_);
  proto::StoreRequest req;
  req.op = "dir.put";
  if (admin_is_new_) req.entries.push_back(Directory::entry_for(admin_));
  req.entries.push_back(Directory::entry_for_token(admin_.id, digest));
  store_.call_directory(req, [this, digest, entries = req.entries](StoreResult& r) {
    if (r.unavailable) return retry(&Startup::persist_admin, r.error);
    if (!r.ok)
      return finish(false, "stored refused dir.put: " + std::to_string(r.status) + " " + r.error);
    if (admin_is_new_) dir_.put_user(admin_);
    dir_.set_token_digest(admin_.id, digest);
    sync_.publish(entries, {});
    std::string error, path = token_path(data_dir_);
    if (!write_token_file(path, admin_token_, error)) return finish(false, error);
    log::notice("guild", "admin token written", {{"path", path}, {"user", admin_.id}});
    finish(true, {});
  });
}

}  // namespace chat::guildd
