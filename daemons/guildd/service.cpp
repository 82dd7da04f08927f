// See service.hpp. Request intake, authentication, dispatch, answers, events, and the
// directory write sequencer.
#include "service.hpp"

#include <unistd.h>

#include "chat/obs/log.hpp"
#include "chat/proto/subjects.hpp"
#include "tokens.hpp"

namespace chat::guildd {

// ---------------------------------------------------------------------------------------
// Call

void Call::reply(proto::GuildReply& r) {
  if (answered) return;
  answered = true;
  if (service->detached_) return;
  service->bus_.respond(msg, proto::pack(r));
  service->answered(*this, r.status);
}

void Call::reply_empty() {
  proto::GuildReply r;
  r.status = 204;
  reply(r);
}

void Call::fail(int status, int code, std::string message, std::string errors) {
  proto::GuildReply r;
  r.status = status;
  r.code = code;
  r.message = std::move(message);
  r.errors = std::move(errors);
  reply(r);
}

Call::~Call() {
  if (!answered && !service->detached_) {
    log::err("guild", "request dropped unanswered", {{"op", req.op}});
    fail(500, 0, "internal error");
  }
}

// ---------------------------------------------------------------------------------------
// Service

Service::Service(bus::Bus& bus, StoreClient& store, Directory& dir, DirSync& sync,
                 SnowflakeGenerator& ids, obs::Registry& metrics, ShardRange range)
    : bus_(bus), store_(store), dir_(dir), sync_(sync), ids_(ids), range_(range) {
  struct Def {
    const char* op;
    Handler h;
    bool admin;
  };
  static const Def defs[] = {
      {"auth", &Service::op_auth, false},
      {"guilds.mine", &Service::op_guilds_mine, false},
      {"msg.create", &Service::op_msg_create, false},
      {"msg.list", &Service::op_msg_list, false},
      {"msg.get", &Service::op_msg_get, false},
      {"msg.edit", &Service::op_msg_edit, false},
      {"msg.delete", &Service::op_msg_delete, false},
      {"msg.bulk_delete", &Service::op_msg_bulk_delete, false},
      {"typing", &Service::op_typing, false},
      {"guild.create", &Service::op_guild_create, false},
      {"guild.get", &Service::op_guild_get, false},
      {"guild.patch", &Service::op_guild_patch, false},
      {"guild.delete", &Service::op_guild_delete, false},
      {"guild.list", &Service::op_guild_list, false},
      {"channel.create", &Service::op_channel_create, false},
      {"channel.get", &Service::op_channel_get, false},
      {"channel.patch", &Service::op_channel_patch, false},
      {"channel.delete", &Service::op_channel_delete, false},
      {"channel.list", &Service::op_channel_list, false},
      {"member.list", &Service::op_member_list, false},
      {"member.get", &Service::op_member_get, false},
      {"member.add", &Service::op_member_add, false},
      {"member.remove", &Service::op_member_remove, false},
      {"member.search", &Service::op_member_search, false},
      {"user.get", &Service::op_user_get, false},
      {"user.find", &Service::op_user_find, false},
      {"user.create", &Service::op_user_create, true},
      {"user.list", &Service::op_user_list, true},
      {"token.create", &Service::op_token_create, true},
      {"token.revoke", &Service::op_token_revoke, true},
      {"dm.open", &Service::op_dm_open, false},
  };
  const std::string help = "Requests served, by op.";
  for (const Def& d : defs)
    ops_[d.op] = OpEntry{
        d.h, d.admin,
        &metrics.counter("chat_guildd_requests_total", help, std::string("op=\"") + d.op + "\"")};
  unknown_requests_ = &metrics.counter("chat_guildd_requests_total", help, "op=\"unknown\"");
  errors_ = &metrics.counter("chat_guildd_request_errors_total",
                             "Requests answered with a status of 400 or more.");
  users_gauge_ = &metrics.gauge("chat_guildd_users", "Users in the directory.");
  guilds_gauge_ = &metrics.gauge("chat_guildd_guilds", "Guilds in the directory.");
  channels_gauge_ =
      &metrics.gauge("chat_guildd_channels", "Channels in the directory (DMs included).");
  update_gauges();
}

void Service::update_gauges() {
  users_gauge_->set(static_cast<int64_t>(dir_.user_count()));
  guilds_gauge_->set(static_cast<int64_t>(dir_.guild_count()));
  channels_gauge_->set(static_cast<int64_t>(dir_.channel_count()));
}

bool Service::start(event_base* base, std::function<void()> on_live) {
  for (int shard = range_.first; shard <= range_.last; ++shard) {
    uint64_t id = bus_.subscribe(
        subjects::guild(static_cast<uint32_t>(shard)), [this](bus::Message& m) { on_request(m); },
        "guildd");
    if (!id) return false;
    subs_.push_back(id);
  }
  return live_.start(base, bus_,
                     "_guildd.live." + std::to_string(getpid()) + "." +
                         std::to_string(reinterpret_cast<uintptr_t>(this)),
                     "guild", "subscriptions not confirmed yet; asking again", std::move(on_live));
}

void Service::stop_taking() {
  live_.cancel();
  for (uint64_t id : subs_) bus_.unsubscribe(id);
  subs_.clear();
}

void Service::answered(const Call& c, int status) {
  if (in_flight_ > 0) --in_flight_;
  if (status >= 400) {
    errors_->inc();
    log::debug("guild", "request refused", {{"op", c.req.op}, {"status", status}});
  }
}

void Service::on_request(bus::Message& m) {
  auto c = std::make_shared<Call>();
  c->service = this;
  c->msg = std::move(m);
  ++in_flight_;
  std::string why;
  if (!proto::unpack(c->msg.data, c->req, &why)) {
    unknown_requests_->inc();
    log::warn("guild", "malformed request", {{"subject", c->msg.subject}, {"error", why}});
    c->fail(400, proto::kInvalidFormBody, "malformed request");
    return;
  }
  if (c->req.v > proto::kSchemaVersion) {
    unknown_requests_->inc();
    log::warn("guild", "request from a newer schema", {{"v", c->req.v}});
    c->fail(400, proto::kInvalidFormBody, "unsupported schema version");
    return;
  }
  auto it = ops_.find(c->req.op);
  if (it == ops_.end()) {
    unknown_requests_->inc();
    log::warn("guild", "unknown op", {{"op", c->req.op}});
    c->fail(400, proto::kInvalidFormBody, "unknown op", "op");
    return;
  }
  it->second.requests->inc();
  // Authentication: the digest of the presented token must name a user, and the user id
  // the token's first part claims must be that user.
  const proto::User* u =
      c->req.token.empty() ? nullptr : dir_.user_by_token_digest(sha256(c->req.token));
  if (!u || token_user_id(c->req.token) != u->id) {
    c->fail(401, proto::kUnauthorized, "401: Unauthorized");
    return;
  }
  c->caller = *u;
  if (it->second.admin_only && !u->admin) {
    c->fail(403, proto::kMissingPermissions, "Missing Permissions");
    return;
  }
  (this->*(it->second.handler))(c);
}

// ---------------------------------------------------------------------------------------
// Checks and events

const proto::Channel* Service::readable_channel(const CallPtr& c, uint64_t channel_id) {
  const proto::Channel* ch = dir_.channel(channel_id);
  if (!ch) {
    c->fail(404, proto::kUnknownChannel, "Unknown Channel");
    return nullptr;
  }
  if (c->caller.admin) return ch;
  bool allowed = false;
  if (ch->type == proto::kDm) {
    for (uint64_t r : ch->recipients) allowed = allowed || r == c->caller.id;
  } else {
    allowed = dir_.member(ch->guild_id, c->caller.id) != nullptr;
  }
  if (!allowed) {
    c->fail(403, proto::kMissingAccess, "Missing Access");
    return nullptr;
  }
  return ch;
}

const proto::Guild* Service::visible_guild(const CallPtr& c, uint64_t guild_id) {
  const proto::Guild* g = dir_.guild(guild_id);
  if (!g) {
    c->fail(404, proto::kUnknownGuild, "Unknown Guild");
    return nullptr;
  }
  if (!c->caller.admin && !dir_.member(guild_id, c->caller.id)) {
    c->fail(403, proto::kMissingAccess, "Missing Access");
    return nullptr;
  }
  return g;
}

Audience Service::audience_of(const proto::Channel& ch) {
  Audience a;
  if (ch.type == proto::kDm)
    a.recipients = ch.recipients;
  else
    a.guild_id = ch.guild_id;
  return a;
}

void Service::publish(const Audience& to, const proto::Event& e) {
  if (to.guild_id) {
    publish_guild(to.guild_id, e);
    return;
  }
  std::string body = proto::pack(e);
  for (uint64_t u : to.recipients) bus_.publish(subjects::user_events(u), body);
}

void Service::publish_guild(uint64_t guild_id, const proto::Event& e) {
  bus_.publish(subjects::guild_events(guild_id), proto::pack(e));
}

void Service::publish_user(uint64_t user_id, const proto::Event& e) {
  bus_.publish(subjects::user_events(user_id), proto::pack(e));
}

void Service::fail_store(const CallPtr& c, const StoreResult& r, int not_found_code) {
  if (r.unavailable) {
    c->fail(503, 0, r.error);
  } else if (r.status == 404 && not_found_code) {
    c->fail(404, not_found_code,
            not_found_code == proto::kUnknownMessage ? "Unknown Message" : "Not Found");
  } else {
    c->fail(500, 0, "storage error: " + r.error);
  }
}

proto::Member Service::new_member(uint64_t guild_id, const proto::User& u) {
  proto::Member m;
  m.guild_id = guild_id;
  m.user_id = u.id;
  m.user_name = u.name;
  m.user_bot = u.bot;
  m.joined_ms = now_unix_ms();
  return m;
}

std::vector<uint64_t> Service::known_mentions(const std::string& content) const {
  std::vector<uint64_t> out;
  for (uint64_t id : parse_mentions(content))
    if (dir_.user(id)) out.push_back(id);
  return out;
}

void Service::add_recipients(proto::GuildReply& r, const proto::Channel& ch) const {
  for (uint64_t id : ch.recipients) {
    bool have = false;
    for (const proto::User& u : r.users) have = have || u.id == id;
    if (const proto::User* u = dir_.user(id); u && !have) r.users.push_back(*u);
  }
}

// ---------------------------------------------------------------------------------------
// Directory write sequencing

void Service::sequence(WriteJob job) {
  writes_.push_back(std::move(job));
  pump();
}

void Service::pump() {
  while (!writing_ && !writes_.empty()) {
    WriteJob job = std::move(writes_.front());
    writes_.pop_front();
    writing_ = true;
    std::optional<DirChange> change = job();
    if (!change) {
      writing_ = false;  // refused at validation: already answered
      continue;
    }
    commit(std::move(*change));
  }
}

void Service::commit(DirChange change) {
  auto ch = std::make_shared<DirChange>(std::move(change));
  if (ch->puts.empty()) {
    commit_dels(ch);
    return;
  }
  proto::StoreRequest req;
  req.op = "dir.put";
  req.entries = ch->puts;
  store_.call_directory(req, [this, ch](StoreResult& r) {
    if (!r.ok) {
      if (ch->call) fail_store(ch->call, r, 0);
      writing_ = false;
      pump();
      return;
    }
    commit_dels(ch);
  });
}

void Service::commit_dels(std::shared_ptr<DirChange> ch) {
  if (ch->dels.empty()) {
    finish_change(ch);
    return;
  }
  proto::StoreRequest req;
  req.op = "dir.del";
  req.keys = ch->dels;
  store_.call_directory(req, [this, ch](StoreResult& r) {
    if (!r.ok) {
      if (ch->call) fail_store(ch->call, r, 0);
      writing_ = false;
      pump();
      return;
    }
    finish_change(ch);
  });
}

void Service::finish_change(const std::shared_ptr<DirChange>& ch) {
  if (ch->apply) ch->apply();
  sync_.publish(ch->puts, ch->dels);  // before the answer: the others learn it first
  update_gauges();
  if (ch->finish) ch->finish();
  writing_ = false;
  pump();
}

}  // namespace chat::guildd
