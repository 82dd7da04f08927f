// Message ops of the Service: create, list, get, edit, delete, bulk delete, typing.
// Each checks the channel and the caller's access against the directory, then talks to
// stored (the channel's shard); events are published only from stored's confirmations,
// and message creates go out in the order their ids were assigned (see service.hpp).
#include <algorithm>

#include "chat/obs/log.hpp"
#include "service.hpp"

namespace chat::guildd {
namespace {

// Discord's codes with no entry in proto::ErrorCode (used only here).
constexpr int kCannotEditOthers = 50005;  // "Cannot edit a message authored by another user"
constexpr int kNonTextChannel = 50008;    // "Cannot send messages in a non-text channel"
constexpr size_t kMinBulk = 2, kMaxBulk = 100;

}  // namespace

void Service::op_msg_create(const CallPtr& c) {
  const proto::GuildRequest& q = c->req;
  const proto::Channel* ch = readable_channel(c, q.channel_id);
  if (!ch) return;
  if (ch->type == proto::kGuildCategory)
    return c->fail(400, kNonTextChannel, "Cannot send messages in a non-text channel");
  if (auto bad = check_content(q.content)) return c->fail(*bad);
  if (auto bad = check_nonce(q.nonce)) return c->fail(*bad);
  if (q.ref_message_id && q.ref_channel_id && q.ref_channel_id != ch->id)
    return c->fail(invalid_field("message_reference", "reply must be in the same channel"));

  proto::Message m;
  m.id = ids_.next();
  m.channel_id = ch->id;
  m.guild_id = ch->guild_id;
  m.author_id = c->caller.id;
  m.author_name = c->caller.name;
  m.author_bot = c->caller.bot;
  m.content = q.content;
  m.nonce = q.nonce;
  m.tts = q.flag;
  if (q.ref_message_id) {
    m.type = proto::kReply;
    m.ref_message_id = q.ref_message_id;
    m.ref_channel_id = ch->id;
    m.ref_guild_id = ch->guild_id;
  }
  m.mentions = known_mentions(q.content);

  proto::StoreRequest sr;
  sr.op = "msg.append";
  sr.channel_id = ch->id;
  sr.messages.push_back(m);
  Audience to = audience_of(*ch);
  store_.call_for_channel(ch->id, sr, [this, c, to, m](StoreResult& r) {
    if (!r.ok) return fail_store(c, r, 0);
    proto::Event e;
    e.t = "MESSAGE_CREATE";
    e.guild_id = m.guild_id;
    e.channel_id = m.channel_id;
    e.user_id = m.author_id;
    e.message = m;
    publish(to, e);
    proto::GuildReply reply;
    reply.messages.push_back(m);
    c->reply(reply);
  });
}

void Service::op_msg_list(const CallPtr& c) {
  const proto::GuildRequest& q = c->req;
  const proto::Channel* ch = readable_channel(c, q.channel_id);
  if (!ch) return;
  int limit = q.limit;
  if (auto bad = check_page(q.before, q.after, q.around, limit)) return c->fail(*bad);
  proto::StoreRequest sr;
  sr.op = "msg.page";
  sr.channel_id = ch->id;
  sr.before = q.before;
  sr.after = q.after;
  sr.around = q.around;
  sr.limit = limit;
  store_.call_for_channel(ch->id, sr, [c](StoreResult& r) {
    if (!r.ok) return c->service->fail_store(c, r, proto::kUnknownChannel);
    proto::GuildReply reply;
    reply.messages = std::move(r.reply.messages);
    c->reply(reply);
  });
}

void Service::op_msg_get(const CallPtr& c) {
  const proto::Channel* ch = readable_channel(c, c->req.channel_id);
  if (!ch) return;
  if (!c->req.message_id) return c->fail(404, proto::kUnknownMessage, "Unknown Message");
  proto::StoreRequest sr;
  sr.op = "msg.get";
  sr.channel_id = ch->id;
  sr.message_id = c->req.message_id;
  store_.call_for_channel(ch->id, sr, [this, c](StoreResult& r) {
    if (!r.ok || r.reply.messages.empty()) return fail_store(c, r, proto::kUnknownMessage);
    proto::GuildReply reply;
    reply.messages.push_back(std::move(r.reply.messages.front()));
    c->reply(reply);
  });
}

void Service::op_msg_edit(const CallPtr& c) {
  const proto::GuildRequest& q = c->req;
  const proto::Channel* ch = readable_channel(c, q.channel_id);
  if (!ch) return;
  if (!q.message_id) return c->fail(404, proto::kUnknownMessage, "Unknown Message");
  if (auto bad = check_content(q.content)) return c->fail(*bad);
  proto::StoreRequest get;
  get.op = "msg.get";
  get.channel_id = ch->id;
  get.message_id = q.message_id;
  Audience to = audience_of(*ch);
  store_.call_for_channel(ch->id, get, [this, c, to](StoreResult& r) {
    if (!r.ok || r.reply.messages.empty()) return fail_store(c, r, proto::kUnknownMessage);
    proto::Message m = std::move(r.reply.messages.front());
    if (m.author_id != c->caller.id && !c->caller.admin)
      return c->fail(403, kCannotEditOthers, "Cannot edit a message authored by another user");
    m.content = c->req.content;
    m.edited_ms = now_unix_ms();
    m.mentions = known_mentions(m.content);
    proto::StoreRequest put;
    put.op = "msg.put";
    put.channel_id = m.channel_id;
    put.message_id = m.id;
    put.messages.push_back(m);
    store_.call_for_channel(m.channel_id, put, [this, c, to, m](StoreResult& r2) {
      if (!r2.ok) return fail_store(c, r2, proto::kUnknownMessage);
      proto::Event e;
      e.t = "MESSAGE_UPDATE";
      e.guild_id = m.guild_id;
      e.channel_id = m.channel_id;
      e.message = m;
      publish(to, e);
      proto::GuildReply reply;
      reply.messages.push_back(m);
      c->reply(reply);
    });
  });
}

void Service::op_msg_delete(const CallPtr& c) {
  const proto::GuildRequest& q = c->req;
  const proto::Channel* ch = readable_channel(c, q.channel_id);
  if (!ch) return;
  if (!q.message_id) return c->fail(404, proto::kUnknownMessage, "Unknown Message");
  const proto::Guild* g = ch->guild_id ? dir_.guild(ch->guild_id) : nullptr;
  bool moderator = c->caller.admin || (g && g->owner_id == c->caller.id);
  proto::StoreRequest get;
  get.op = "msg.get";
  get.channel_id = ch->id;
  get.message_id = q.message_id;
  Audience to = audience_of(*ch);
  store_.call_for_channel(ch->id, get, [this, c, to, moderator](StoreResult& r) {
    if (!r.ok || r.reply.messages.empty()) return fail_store(c, r, proto::kUnknownMessage);
    const proto::Message& m = r.reply.messages.front();
    if (m.author_id != c->caller.id && !moderator)
      return c->fail(403, proto::kMissingPermissions, "Missing Permissions");
    proto::StoreRequest del;
    del.op = "msg.delete";
    del.channel_id = m.channel_id;
    del.ids = {m.id};
    uint64_t guild_id = m.guild_id, channel_id = m.channel_id, id = m.id;
    store_.call_for_channel(channel_id, del,
                            [this, c, to, guild_id, channel_id, id](StoreResult& r2) {
                              if (!r2.ok) return fail_store(c, r2, proto::kUnknownMessage);
                              if (r2.reply.count == 0)
                                return c->fail(404, proto::kUnknownMessage, "Unknown Message");
                              proto::Event e;
                              e.t = "MESSAGE_DELETE";
                              e.guild_id = guild_id;
                              e.channel_id = channel_id;
                              e.ids = {id};
                              publish(to, e);
                              c->reply_empty();
                            });
  });
}

void Service::op_msg_bulk_delete(const CallPtr& c) {
  const proto::GuildRequest& q = c->req;
  const proto::Channel* ch = readable_channel(c, q.channel_id);
  if (!ch) return;
  std::vector<uint64_t> ids = q.ids;
  if (ids.size() < kMinBulk || ids.size() > kMaxBulk)
    return c->fail(invalid_field("messages", "between 2 and 100 message ids are required"));
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end() || ids.front() == 0)
    return c->fail(invalid_field("messages", "message ids must be distinct snowflakes"));
  const proto::Guild* g = ch->guild_id ? dir_.guild(ch->guild_id) : nullptr;
  if (!c->caller.admin && !(g && g->owner_id == c->caller.id))
    return c->fail(403, proto::kMissingPermissions, "Missing Permissions");
  proto::StoreRequest del;
  del.op = "msg.delete";
  del.channel_id = ch->id;
  del.ids = q.ids;
  Audience to = audience_of(*ch);
  uint64_t guild_id = ch->guild_id, channel_id = ch->id;
  store_.call_for_channel(channel_id, del, [this, c, to, guild_id, channel_id](StoreResult& r) {
    if (!r.ok) return fail_store(c, r, 0);
    proto::Event e;
    e.t = "MESSAGE_DELETE_BULK";
    e.guild_id = guild_id;
    e.channel_id = channel_id;
    e.ids = c->req.ids;
    publish(to, e);
    c->reply_empty();
  });
}

void Service::op_typing(const CallPtr& c) {
  const proto::Channel* ch = readable_channel(c, c->req.channel_id);
  if (!ch) return;
  proto::Event e;
  e.t = "TYPING_START";
  e.guild_id = ch->guild_id;
  e.channel_id = ch->id;
  e.user_id = c->caller.id;
  e.ts_ms = now_unix_ms();
  if (ch->guild_id) {
    if (const proto::Member* m = dir_.member(ch->guild_id, c->caller.id))
      e.member = *m;
    else
      e.member = new_member(ch->guild_id, c->caller);  // an admin outside the guild
  }
  publish(audience_of(*ch), e);
  c->reply_empty();
}

}  // namespace chat::guildd
