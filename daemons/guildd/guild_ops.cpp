// Guild, channel and member ops of the Service. Reads answer from the directory after the
// membership check; writes are sequenced (Service::sequence): validated against the
// directory at their turn, persisted, applied, then answered and published.
//
// Permissions: any member reads; the guild's owner or an admin manages the guild, its
// channels and its members; a member may remove themself; admins bypass membership.
//
// Retention (retention_days of channel.patch and guild.patch) is kept twice: in the
// directory record, for the JSON, and in stored, whose sweeps act on it. The record is
// written first, in the write sequence; stored's retention.set is sent from the change's
// finish step, so these sends leave in sequence order and stored's last word always
// matches the directory; the caller is answered (and the event published) only once
// stored made it durable. A guild's setting names its channels (stored knows no guilds),
// so a channel created in a guild with a setting re-sends the guild's list before it is
// answered.
#include <algorithm>
#include <cctype>

#include "chat/obs/log.hpp"
#include "dir_keys.hpp"
#include "service.hpp"

namespace chat::guildd {
namespace {

constexpr size_t kMaxMemberPage = 1000;

bool valid_channel_type(int t) {
  return t == proto::kGuildText || t == proto::kGuildVoice || t == proto::kGuildCategory;
}

template <typename T>
std::vector<T> copy_all(const std::vector<const T*>& in) {
  std::vector<T> out;
  out.reserve(in.size());
  for (const T* p : in) out.push_back(*p);
  return out;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (prefix.size() > s.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// retention.set for a guild: its channels and `days` (> 0 sets, otherwise clears).
proto::StoreRequest guild_retention_request(const Directory& dir, uint64_t guild_id, int days) {
  proto::StoreRequest req;
  req.op = "retention.set";
  req.guild_id = guild_id;
  req.days = days > 0 ? days : 0;
  if (days > 0)
    for (const proto::Channel* ch : dir.channels_of(guild_id)) req.ids.push_back(ch->id);
  return req;
}

// Sends one retention.set and runs `then` once stored made it durable; otherwise fails the
// call (503 when stored did not answer: try again).
void set_retention(StoreClient& store, const CallPtr& c, proto::StoreRequest req,
                   std::function<void()> then) {
  if (req.guild_id != 0 && req.days > 0 && req.ids.empty()) return then();  // no channels yet
  auto done = [c, then = std::move(then), guild = req.guild_id,
               channel = req.channel_id](StoreResult& r) {
    if (r.ok) return then();
    log::err("guild", "retention not applied",
             {{"op", c->req.op}, {"guild", guild}, {"channel", channel}, {"error", r.error}});
    if (r.unavailable) return c->fail(503, 0, r.error);
    c->fail(500, 0, "storage error: " + r.error);
  };
  if (req.channel_id != 0)
    store.call_for_channel(req.channel_id, req, std::move(done));
  else
    store.call_directory(req, std::move(done));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Guilds

void Service::op_guild_create(const CallPtr& c) {
  if (auto bad = check_text_field(c->req.name, kMaxGuildName, "name")) return c->fail(*bad);
  sequence([this, c]() -> std::optional<DirChange> {
    proto::Guild g;
    g.id = ids_.next();
    g.name = c->req.name;
    g.owner_id = c->caller.id;
    proto::Channel general;
    general.id = ids_.next();
    general.guild_id = g.id;
    general.name = "general";
    general.type = proto::kGuildText;
    proto::Member owner = new_member(g.id, c->caller);
    DirChange ch;
    ch.call = c;
    ch.puts = {Directory::entry_for(g), Directory::entry_for(general), Directory::entry_for(owner)};
    ch.apply = [this, g, general, owner] {
      dir_.put_guild(g);
      dir_.put_channel(general);
      dir_.put_member(owner);
    };
    ch.finish = [this, c, g, general, owner] {
      log::info("guild", "guild created", {{"guild", g.id}, {"owner", g.owner_id}});
      proto::Event e;
      e.t = "GUILD_CREATE";
      e.guild_id = g.id;
      e.guild = g;
      e.guild.member_count = 1;
      e.channels = {general};
      e.members = {owner};
      publish_user(g.owner_id, e);
      proto::GuildReply r;
      r.guilds = {g};
      r.channels = {general};
      c->reply(r);
    };
    return ch;
  });
}

void Service::op_guild_get(const CallPtr& c) {
  const proto::Guild* g = visible_guild(c, c->req.guild_id);
  if (!g) return;
  proto::GuildReply r;
  r.guilds = {*g};
  r.channels = copy_all(dir_.channels_of(g->id));
  c->reply(r);
}

void Service::op_guild_patch(const CallPtr& c) {
  if (!c->req.name.empty())
    if (auto bad = check_text_field(c->req.name, kMaxGuildName, "name")) return c->fail(*bad);
  if (auto bad = check_guild_retention(c->req.days)) return c->fail(*bad);
  sequence([this, c]() -> std::optional<DirChange> {
    const proto::Guild* cur = visible_guild(c, c->req.guild_id);
    if (!cur) return std::nullopt;
    if (!manages(c->caller, *cur)) {
      c->fail(403, proto::kMissingPermissions, "Missing Permissions");
      return std::nullopt;
    }
    proto::Guild g = *cur;
    if (!c->req.name.empty()) g.name = c->req.name;
    const bool retention = c->req.days != proto::kRetentionUnchanged;
    if (retention) g.retention_days = c->req.days > 0 ? c->req.days : -1;
    DirChange ch;
    ch.call = c;
    ch.puts = {Directory::entry_for(g)};
    ch.apply = [this, g] { dir_.put_guild(g); };
    ch.finish = [this, c, g, retention] {
      auto answer = [this, c, g] {
        proto::Event e;
        e.t = "GUILD_UPDATE";
        e.guild_id = g.id;
        e.guild = g;
        publish_guild(g.id, e);
        proto::GuildReply r;
        r.guilds = {g};
        c->reply(r);
      };
      if (!retention) return answer();
      log::info("guild", "guild retention set", {{"guild", g.id}, {"days", g.retention_days}});
      set_retention(store_, c, guild_retention_request(dir_, g.id, g.retention_days), answer);
    };
    return ch;
  });
}

void Service::op_guild_delete(const CallPtr& c) {
  sequence([this, c]() -> std::optional<DirChange> {
    const proto::Guild* g = visible_guild(c, c->req.guild_id);
    if (!g) return std::nullopt;
    if (!manages(c->caller, *g)) {
      c->fail(403, proto::kMissingPermissions, "Missing Permissions");
      return std::nullopt;
    }
    uint64_t gid = g->id;
    DirChange ch;
    ch.call = c;
    ch.dels = dir_.keys_of_guild(gid);
    ch.apply = [this, gid] { dir_.erase_guild(gid); };
    ch.finish = [this, c, gid] {
      log::info("guild", "guild deleted", {{"guild", gid}, {"by", c->caller.id}});
      proto::Event e;
      e.t = "GUILD_DELETE";
      e.guild_id = gid;
      publish_guild(gid, e);
      c->reply_empty();
    };
    return ch;
  });
}

void Service::op_guild_list(const CallPtr& c) {
  proto::GuildReply r;
  r.guilds = copy_all(c->caller.admin ? dir_.guilds() : dir_.guilds_of(c->caller.id));
  r.users = {c->caller};  // the viewer (gatewayd marks the guilds it owns)
  c->reply(r);
}

// ---------------------------------------------------------------------------------------
// Channels

void Service::op_channel_create(const CallPtr& c) {
  const proto::GuildRequest& q = c->req;
  if (auto bad = check_text_field(q.name, kMaxChannelName, "name")) return c->fail(*bad);
  if (auto bad = check_text_field(q.topic, kMaxTopic, "topic", true)) return c->fail(*bad);
  if (!valid_channel_type(q.type))
    return c->fail(invalid_field("type", "channel type must be 0, 2 or 4"));
  sequence([this, c]() -> std::optional<DirChange> {
    const proto::Guild* g = visible_guild(c, c->req.guild_id);
    if (!g) return std::nullopt;
    if (!manages(c->caller, *g)) {
      c->fail(403, proto::kMissingPermissions, "Missing Permissions");
      return std::nullopt;
    }
    proto::Channel chan;
    chan.id = ids_.next();
    chan.guild_id = g->id;
    chan.name = c->req.name;
    chan.type = c->req.type;
    chan.topic = c->req.topic;
    chan.position = static_cast<int>(dir_.channels_of(g->id).size());
    DirChange ch;
    ch.call = c;
    ch.puts = {Directory::entry_for(chan)};
    ch.apply = [this, chan] { dir_.put_channel(chan); };
    ch.finish = [this, c, chan] {
      auto answer = [this, c, chan] {
        proto::Event e;
        e.t = "CHANNEL_CREATE";
        e.guild_id = chan.guild_id;
        e.channel_id = chan.id;
        e.channel = chan;
        publish_guild(chan.guild_id, e);
        proto::GuildReply r;
        r.channels = {chan};
        c->reply(r);
      };
      // The guild's retention covers the new channel too: re-send its list.
      const proto::Guild* g = dir_.guild(chan.guild_id);
      if (!g || g->retention_days <= 0) return answer();
      set_retention(store_, c, guild_retention_request(dir_, g->id, g->retention_days), answer);
    };
    return ch;
  });
}

void Service::op_channel_get(const CallPtr& c) {
  const proto::Channel* ch = readable_channel(c, c->req.channel_id);
  if (!ch) return;
  proto::GuildReply r;
  r.channels = {*ch};
  add_recipients(r, *ch);
  c->reply(r);
}

// Checks shared by channel.patch and channel.delete: a guild channel the caller manages.
// (DM channels are not patched or deleted here.)
static const proto::Guild* managed_guild_of(const proto::Channel& ch, const Directory& dir,
                                            const CallPtr& c) {
  if (ch.type == proto::kDm) {
    c->fail(403, proto::kMissingPermissions, "Missing Permissions");
    return nullptr;
  }
  const proto::Guild* g = dir.guild(ch.guild_id);
  if (!g || !(c->caller.admin || g->owner_id == c->caller.id)) {
    c->fail(403, proto::kMissingPermissions, "Missing Permissions");
    return nullptr;
  }
  return g;
}

void Service::op_channel_patch(const CallPtr& c) {
  const proto::GuildRequest& q = c->req;
  if (!q.name.empty())
    if (auto bad = check_text_field(q.name, kMaxChannelName, "name")) return c->fail(*bad);
  if (auto bad = check_text_field(q.topic, kMaxTopic, "topic", true)) return c->fail(*bad);
  if (auto bad = check_channel_retention(q.days)) return c->fail(*bad);
  sequence([this, c]() -> std::optional<DirChange> {
    const proto::Channel* cur = readable_channel(c, c->req.channel_id);
    if (!cur || !managed_guild_of(*cur, dir_, c)) return std::nullopt;
    proto::Channel chan = *cur;
    if (!c->req.name.empty()) chan.name = c->req.name;
    if (!c->req.topic.empty()) chan.topic = c->req.topic;
    const bool retention = c->req.days != proto::kRetentionUnchanged;
    if (retention) chan.retention_days = c->req.days == proto::kRetentionRemove ? -1 : c->req.days;
    DirChange ch;
    ch.call = c;
    ch.puts = {Directory::entry_for(chan)};
    ch.apply = [this, chan] { dir_.put_channel(chan); };
    ch.finish = [this, c, chan, retention] {
      auto answer = [this, c, chan] {
        proto::Event e;
        e.t = "CHANNEL_UPDATE";
        e.guild_id = chan.guild_id;
        e.channel_id = chan.id;
        e.channel = chan;
        publish_guild(chan.guild_id, e);
        proto::GuildReply r;
        r.channels = {chan};
        c->reply(r);
      };
      if (!retention) return answer();
      log::info("guild", "channel retention set",
                {{"channel", chan.id}, {"days", chan.retention_days}});
      proto::StoreRequest req;
      req.op = "retention.set";
      req.channel_id = chan.id;
      req.days = chan.retention_days;  // -1: the channel's own setting is removed
      set_retention(store_, c, std::move(req), answer);
    };
    return ch;
  });
}

void Service::op_channel_delete(const CallPtr& c) {
  sequence([this, c]() -> std::optional<DirChange> {
    const proto::Channel* cur = readable_channel(c, c->req.channel_id);
    if (!cur || !managed_guild_of(*cur, dir_, c)) return std::nullopt;
    proto::Channel chan = *cur;
    DirChange ch;
    ch.call = c;
    ch.dels = {channel_key(chan.id)};
    ch.apply = [this, chan] { dir_.erase_channel(chan.id); };
    ch.finish = [this, c, chan] {
      proto::Event e;
      e.t = "CHANNEL_DELETE";
      e.guild_id = chan.guild_id;
      e.channel_id = chan.id;
      e.channel = chan;
      publish_guild(chan.guild_id, e);
      proto::GuildReply r;
      r.channels = {chan};
      c->reply(r);
    };
    return ch;
  });
}

void Service::op_channel_list(const CallPtr& c) {
  const proto::Guild* g = visible_guild(c, c->req.guild_id);
  if (!g) return;
  proto::GuildReply r;
  r.channels = copy_all(dir_.channels_of(g->id));
  c->reply(r);
}

// ---------------------------------------------------------------------------------------
// Members

void Service::op_member_list(const CallPtr& c) {
  const proto::Guild* g = visible_guild(c, c->req.guild_id);
  if (!g) return;
  int limit = c->req.limit == 0 ? static_cast<int>(kMaxMemberPage) : c->req.limit;
  if (limit < 1 || limit > static_cast<int>(kMaxMemberPage))
    return c->fail(invalid_field("limit", "limit must be between 1 and 1000"));
  proto::GuildReply r;
  if (!c->req.ids.empty()) {  // these users (op 8's user_ids)
    if (c->req.ids.size() > kMaxMemberPage)
      return c->fail(invalid_field("ids", "at most 1000 user ids"));
    for (uint64_t uid : c->req.ids)
      if (const proto::Member* m = dir_.member(g->id, uid)) r.members.push_back(*m);
  } else {
    r.members = copy_all(dir_.members_of(g->id, c->req.after, static_cast<size_t>(limit)));
  }
  r.guilds = {*g};  // with the count, so that op 8 knows its chunk_count at the first page
  r.guilds[0].member_count = static_cast<uint32_t>(dir_.member_count(g->id));
  c->reply(r);
}

void Service::op_member_get(const CallPtr& c) {
  const proto::Guild* g = visible_guild(c, c->req.guild_id);
  if (!g) return;
  uint64_t uid = c->req.user_id ? c->req.user_id : c->caller.id;
  const proto::Member* m = dir_.member(g->id, uid);
  if (!m) return c->fail(404, proto::kUnknownMember, "Unknown Member");
  proto::GuildReply r;
  r.members = {*m};
  c->reply(r);
}

void Service::op_member_add(const CallPtr& c) {
  sequence([this, c]() -> std::optional<DirChange> {
    const proto::Guild* g = visible_guild(c, c->req.guild_id);
    if (!g) return std::nullopt;
    if (!manages(c->caller, *g)) {
      c->fail(403, proto::kMissingPermissions, "Missing Permissions");
      return std::nullopt;
    }
    const proto::User* u = dir_.user(c->req.user_id);
    if (!u) {
      c->fail(404, proto::kUnknownUser, "Unknown User");
      return std::nullopt;
    }
    if (const proto::Member* existing = dir_.member(g->id, u->id)) {
      proto::GuildReply r;  // already a member: nothing changes, nothing is published
      r.members = {*existing};
      c->reply(r);
      return std::nullopt;
    }
    proto::Member m = new_member(g->id, *u);
    uint64_t gid = g->id;
    DirChange ch;
    ch.call = c;
    ch.puts = {Directory::entry_for(m)};
    ch.apply = [this, m] { dir_.put_member(m); };
    ch.finish = [this, c, m, gid] {
      log::info("guild", "member added", {{"guild", gid}, {"user", m.user_id}});
      proto::Event add;
      add.t = "GUILD_MEMBER_ADD";
      add.guild_id = gid;
      add.user_id = m.user_id;
      add.member = m;
      publish_guild(gid, add);
      if (const proto::Guild* g = dir_.guild(gid)) {
        proto::Event joined;
        joined.t = "GUILD_CREATE";
        joined.guild_id = gid;
        joined.guild = *g;
        joined.guild.member_count = static_cast<uint32_t>(dir_.member_count(gid));
        joined.channels = copy_all(dir_.channels_of(gid));
        if (joined.guild.member_count <= proto::kFullMemberListMax)
          joined.members = copy_all(dir_.members_of(gid));
        else  // a large guild: the event stays small; op 8 pages the rest
          joined.members = {m};
        publish_user(m.user_id, joined);
      }
      proto::GuildReply r;
      r.members = {m};
      c->reply(r);
    };
    return ch;
  });
}

void Service::op_member_remove(const CallPtr& c) {
  sequence([this, c]() -> std::optional<DirChange> {
    const proto::Guild* g = dir_.guild(c->req.guild_id);
    if (!g) {
      c->fail(404, proto::kUnknownGuild, "Unknown Guild");
      return std::nullopt;
    }
    uint64_t uid = c->req.user_id ? c->req.user_id : c->caller.id;
    bool self = uid == c->caller.id;
    if (!self && !manages(c->caller, *g)) {
      bool member = dir_.member(g->id, c->caller.id) != nullptr;
      c->fail(403, member ? proto::kMissingPermissions : proto::kMissingAccess,
              member ? "Missing Permissions" : "Missing Access");
      return std::nullopt;
    }
    const proto::Member* m = dir_.member(g->id, uid);
    if (!m) {
      c->fail(404, proto::kUnknownMember, "Unknown Member");
      return std::nullopt;
    }
    if (uid == g->owner_id) {
      c->fail(invalid_field("user_id", "the guild's owner cannot be removed"));
      return std::nullopt;
    }
    proto::Member gone = *m;
    uint64_t gid = g->id;
    DirChange ch;
    ch.call = c;
    ch.dels = {member_key(gid, uid)};
    ch.apply = [this, gid, uid] { dir_.erase_member(gid, uid); };
    ch.finish = [this, c, gone, gid] {
      log::info("guild", "member removed", {{"guild", gid}, {"user", gone.user_id}});
      proto::Event rm;
      rm.t = "GUILD_MEMBER_REMOVE";
      rm.guild_id = gid;
      rm.user_id = gone.user_id;
      rm.member = gone;
      publish_guild(gid, rm);
      proto::Event left;
      left.t = "GUILD_DELETE";
      left.guild_id = gid;
      left.user_id = gone.user_id;
      publish_user(gone.user_id, left);
      c->reply_empty();
    };
    return ch;
  });
}

void Service::op_member_search(const CallPtr& c) {
  const proto::Guild* g = visible_guild(c, c->req.guild_id);
  if (!g) return;
  int limit = c->req.limit == 0 ? static_cast<int>(kMaxMemberPage) : c->req.limit;
  if (limit < 1 || limit > static_cast<int>(kMaxMemberPage))
    return c->fail(invalid_field("limit", "limit must be between 1 and 1000"));
  proto::GuildReply r;
  for (const proto::Member* m : dir_.members_of(g->id)) {
    if (r.members.size() >= static_cast<size_t>(limit)) break;
    if (starts_with_nocase(m->user_name, c->req.name) || starts_with_nocase(m->nick, c->req.name))
      r.members.push_back(*m);
  }
  c->reply(r);
}

}  // namespace chat::guildd
