// User, token and DM ops of the Service, plus the two reads gatewayd makes for a session:
// auth (who is this token) and guilds.mine (everything IDENTIFY needs for READY and the
// GUILD_CREATE dispatches). Users and tokens are admin business; a token is shown once,
// in the reply that created it, and only its SHA-256 is persisted.
#include <algorithm>

#include "chat/obs/log.hpp"
#include "dir_keys.hpp"
#include "service.hpp"
#include "tokens.hpp"

namespace chat::guildd {

void Service::op_auth(const CallPtr& c) {
  proto::GuildReply r;
  r.users = {c->caller};
  c->reply(r);
}

// Every member of a guild up to kFullMemberListMax, only the caller's own past it (with
// member_count the real number): gatewayd decides "large" per session, and pages the
// members of a large guild with member.list when a client asks (op 8).
void Service::op_guilds_mine(const CallPtr& c) {
  proto::GuildReply r;
  for (const proto::Guild* g : dir_.guilds_of(c->caller.id)) {
    r.guilds.push_back(*g);
    proto::Guild& copy = r.guilds.back();
    copy.member_count = static_cast<uint32_t>(dir_.member_count(g->id));
    for (const proto::Channel* ch : dir_.channels_of(g->id)) r.channels.push_back(*ch);
    if (copy.member_count <= proto::kFullMemberListMax) {
      for (const proto::Member* m : dir_.members_of(g->id)) r.members.push_back(*m);
    } else if (const proto::Member* me = dir_.member(g->id, c->caller.id)) {
      r.members.push_back(*me);
    }
  }
  c->reply(r);
}

void Service::op_user_get(const CallPtr& c) {
  const proto::User* u = c->req.user_id ? dir_.user(c->req.user_id) : &c->caller;
  if (!u) return c->fail(404, proto::kUnknownUser, "Unknown User");
  proto::GuildReply r;
  r.users = {*u};
  c->reply(r);
}

void Service::op_user_find(const CallPtr& c) {
  const proto::User* u = dir_.user_by_name(c->req.name);
  if (!u) return c->fail(404, proto::kUnknownUser, "Unknown User");
  proto::GuildReply r;
  r.users = {*u};
  c->reply(r);
}

void Service::op_user_list(const CallPtr& c) {
  proto::GuildReply r;
  for (const proto::User* u : dir_.users()) r.users.push_back(*u);
  c->reply(r);
}

void Service::op_user_create(const CallPtr& c) {
  if (!valid_user_name(c->req.name))
    return c->fail(invalid_field("name", "name must be 1-32 characters of A-Z a-z 0-9 _ . -"));
  sequence([this, c]() -> std::optional<DirChange> {
    if (dir_.user_by_name(c->req.name)) {
      c->fail(invalid_field("name", "Username is already taken"));
      return std::nullopt;
    }
    proto::User u;
    u.id = ids_.next();
    u.name = c->req.name;
    u.bot = c->req.flag;
    std::string token = make_token(u.id);
    if (token.empty()) {
      log::err("guild", "random source failed; no token issued");
      c->fail(500, 0, "cannot generate a token");
      return std::nullopt;
    }
    std::string digest = sha256(token);
    DirChange ch;
    ch.call = c;
    ch.puts = {Directory::entry_for(u), Directory::entry_for_token(u.id, digest)};
    ch.apply = [this, u, digest] {
      dir_.put_user(u);
      dir_.set_token_digest(u.id, digest);
    };
    ch.finish = [c, u, token] {
      log::info("guild", "user created", {{"user", u.id}, {"name", u.name}, {"bot", u.bot}});
      proto::GuildReply r;
      r.users = {u};
      r.token = token;
      c->reply(r);
    };
    return ch;
  });
}

void Service::op_token_create(const CallPtr& c) {
  sequence([this, c]() -> std::optional<DirChange> {
    const proto::User* found = dir_.user(c->req.user_id);
    if (!found) {
      c->fail(404, proto::kUnknownUser, "Unknown User");
      return std::nullopt;
    }
    proto::User u = *found;
    std::string token = make_token(u.id);
    if (token.empty()) {
      log::err("guild", "random source failed; no token issued");
      c->fail(500, 0, "cannot generate a token");
      return std::nullopt;
    }
    std::string digest = sha256(token);
    DirChange ch;
    ch.call = c;
    // One record per user: writing the new digest revokes the old token in the same write.
    ch.puts = {Directory::entry_for_token(u.id, digest)};
    ch.apply = [this, u, digest] { dir_.set_token_digest(u.id, digest); };
    ch.finish = [c, u, token] {
      log::info("guild", "token issued", {{"user", u.id}, {"by", c->caller.id}});
      proto::GuildReply r;
      r.users = {u};
      r.token = token;
      c->reply(r);
    };
    return ch;
  });
}

void Service::op_token_revoke(const CallPtr& c) {
  sequence([this, c]() -> std::optional<DirChange> {
    const proto::User* u = dir_.user(c->req.user_id);
    if (!u) {
      c->fail(404, proto::kUnknownUser, "Unknown User");
      return std::nullopt;
    }
    uint64_t uid = u->id;
    if (!dir_.token_digest(uid)) {
      c->reply_empty();  // nothing to revoke
      return std::nullopt;
    }
    DirChange ch;
    ch.call = c;
    ch.dels = {token_key(uid)};
    ch.apply = [this, uid] { dir_.clear_token(uid); };
    ch.finish = [c, uid] {
      log::info("guild", "token revoked", {{"user", uid}, {"by", c->caller.id}});
      c->reply_empty();
    };
    return ch;
  });
}

void Service::op_dm_open(const CallPtr& c) {
  const proto::User* other = dir_.user(c->req.user_id);
  if (!other) return c->fail(404, proto::kUnknownUser, "Unknown User");
  if (other->id == c->caller.id)
    return c->fail(invalid_field("recipient_id", "cannot open a DM with yourself"));
  sequence([this, c]() -> std::optional<DirChange> {
    uint64_t a = c->caller.id, b = c->req.user_id;
    if (uint64_t existing = dir_.dm_between(a, b)) {
      proto::GuildReply r;
      r.channels = {*dir_.channel(existing)};
      add_recipients(r, r.channels[0]);
      c->reply(r);
      return std::nullopt;
    }
    proto::Channel dm;
    dm.id = ids_.next();
    dm.type = proto::kDm;
    dm.recipients = {std::min(a, b), std::max(a, b)};
    DirChange ch;
    ch.call = c;
    ch.puts = {Directory::entry_for(dm)};
    ch.apply = [this, dm] { dir_.put_channel(dm); };
    ch.finish = [this, c, dm] {
      proto::GuildReply r;
      r.channels = {dm};
      add_recipients(r, dm);
      c->reply(r);
    };
    return ch;
  });
}

}  // namespace chat::guildd
