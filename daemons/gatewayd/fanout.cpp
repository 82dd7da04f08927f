// Fanout: subscription refcounts and encode-once delivery (see fanout.hpp). Frames are
// queued on the sessions' connections and written by the loop's write batch after the
// whole event (and any other events of the same turn) has been queued. Deliveries
// walk a snapshot of the member list, because a delivery may close a session (slow
// consumer) and closing leaves its guilds; closed sessions are freed only after the
// current callback, so the snapshot's pointers stay valid.
#include "fanout.hpp"

#include <algorithm>
#include <chrono>

#include "chat/obs/log.hpp"
#include "chat/proto/discord_json.hpp"
#include "chat/proto/subjects.hpp"
#include "dispatch_frame.hpp"
#include "intents.hpp"
#include "json_text.hpp"
#include "presence_client.hpp"
#include "session.hpp"
#include "worker.hpp"

namespace chat::gateway {
namespace {

using Json = nlohmann::json;

bool is_message_event(const std::string& t) {
  return t == "MESSAGE_CREATE" || t == "MESSAGE_UPDATE";
}

// The `d` of an event, or null for events we do not turn into dispatches.
Json event_data(const proto::Event& ev, bool strip_content, uint64_t viewer_id) {
  const std::string& t = ev.t;
  uint64_t guild_id = ev.guild_id;
  if (is_message_event(t)) {
    proto::MessageJsonOptions o;
    o.strip_content = strip_content;
    return proto::message_json(ev.message, o);
  }
  if (t == "MESSAGE_DELETE" || t == "MESSAGE_DELETE_BULK") {
    Json d = {{"channel_id", proto::id_string(ev.channel_id)}};
    if (guild_id) d["guild_id"] = proto::id_string(guild_id);
    if (t == "MESSAGE_DELETE") {
      d["id"] = proto::id_string(ev.ids.empty() ? ev.message.id : ev.ids[0]);
    } else {
      Json ids = Json::array();
      for (uint64_t id : ev.ids) ids.push_back(proto::id_string(id));
      d["ids"] = std::move(ids);
    }
    return d;
  }
  if (t == "TYPING_START") {
    Json d = {{"channel_id", proto::id_string(ev.channel_id)},
              {"user_id", proto::id_string(ev.user_id)},
              {"timestamp", ev.ts_ms / 1000}};
    if (guild_id) {
      d["guild_id"] = proto::id_string(guild_id);
      if (ev.member.user_id) d["member"] = proto::member_json(ev.member);
    }
    return d;
  }
  if (t == "CHANNEL_CREATE" || t == "CHANNEL_UPDATE" || t == "CHANNEL_DELETE")
    return proto::channel_json(ev.channel);
  if (t == "GUILD_UPDATE") return proto::guild_json(ev.guild);
  if (t == "GUILD_DELETE") return {{"id", proto::id_string(guild_id ? guild_id : ev.guild.id)}};
  if (t == "GUILD_CREATE")
    return proto::guild_create_json(ev.guild, ev.channels, ev.members, viewer_id);
  if (t == "GUILD_MEMBER_ADD") {
    Json d = proto::member_json(ev.member);
    d["guild_id"] = proto::id_string(guild_id ? guild_id : ev.member.guild_id);
    return d;
  }
  if (t == "GUILD_MEMBER_REMOVE")
    return {{"guild_id", proto::id_string(guild_id ? guild_id : ev.member.guild_id)},
            {"user", proto::user_json(ev.member.user_id, ev.member.user_name, ev.member.user_bot)}};
  return nullptr;
}

}  // namespace

Fanout::~Fanout() {
  for (auto* map : {&guilds_, &users_})
    for (auto& [key, g] : *map)
      if (g.sub) worker_.bus().unsubscribe(g.sub);
}

void Fanout::join(std::unordered_map<uint64_t, Group>& map, uint64_t key, Session* s, bool user) {
  Group& g = map[key];
  if (std::find(g.sessions.begin(), g.sessions.end(), s) != g.sessions.end()) return;
  g.sessions.push_back(s);
  if (g.sub) return;
  std::string subject = user ? subjects::user_events(key) : subjects::guild_events(key);
  g.sub = worker_.bus().subscribe(subject,
                                  [this, user, key](bus::Message& m) { on_event(user, key, m); });
  if (!g.sub) log::warn("fanout", "subscribe failed", {{"subject", subject}});
  log::debug("fanout", "subscribed", {{"subject", subject}, {"loop", worker_.index()}});
}

void Fanout::leave(std::unordered_map<uint64_t, Group>& map, uint64_t key, Session* s) {
  auto it = map.find(key);
  if (it == map.end()) return;
  auto& v = it->second.sessions;
  auto pos = std::find(v.begin(), v.end(), s);
  if (pos == v.end()) return;
  *pos = v.back();
  v.pop_back();
  if (!v.empty()) return;
  if (it->second.sub) worker_.bus().unsubscribe(it->second.sub);
  map.erase(it);
}

void Fanout::join_guild(uint64_t guild_id, Session* s) {
  join(guilds_, guild_id, s, false);
}
void Fanout::leave_guild(uint64_t guild_id, Session* s) {
  leave(guilds_, guild_id, s);
}
void Fanout::join_user(uint64_t user_id, Session* s) {
  join(users_, user_id, s, true);
}
void Fanout::leave_user(uint64_t user_id, Session* s) {
  leave(users_, user_id, s);
}

void Fanout::on_event(bool user_subject, uint64_t key, bus::Message& msg) {
  auto start = std::chrono::steady_clock::now();
  proto::Event ev;
  std::string error;
  if (!proto::unpack(msg.data, ev, &error) || ev.v > proto::kSchemaVersion) {
    log::warn("fanout", "bad event dropped",
              {{"subject", msg.subject}, {"error", error}, {"v", ev.v}});
    return;
  }
  auto& map = user_subject ? users_ : guilds_;
  auto it = map.find(key);
  if (it == map.end()) return;
  if (!user_subject && ev.guild_id == 0) ev.guild_id = key;
  worker_.note_event(start);  // observed once this turn's writes are done
  if (user_subject && (ev.t == "GUILD_CREATE" || ev.t == "GUILD_DELETE")) {
    on_user_guild_change(ev, key);
    return;
  }
  snapshot_ = it->second.sessions;
  std::vector<Session*> targets;
  targets.swap(snapshot_);
  if (ev.t == "PRESENCE_UPDATE")  // batched by presenced: one dispatch per record
    worker_.presence().deliver_guild(ev, targets);
  else
    deliver(ev, targets);
  // A deleted guild: every local session leaves it.
  if (!user_subject && ev.t == "GUILD_DELETE")
    for (Session* s : targets)
      if (s->receiving()) s->leave_guild(key);
  targets.clear();
  snapshot_.swap(targets);  // keep the capacity for the next event
}

void Fanout::deliver(const proto::Event& ev, const std::vector<Session*>& targets) {
  bool message = is_message_event(ev.t);
  bool dm = message ? ev.message.guild_id == 0 : ev.guild_id == 0;
  uint32_t need = required_intent(ev.t, dm);
  FramePtr full, stripped;
  bool unknown = false;
  for (Session* s : targets) {
    if (!s->receiving()) continue;
    if (need && !(s->intents() & need)) continue;
    bool strip = false;
    if (message) {
      uint64_t me = s->user_id();
      bool own = ev.message.author_id == me;
      bool mentioned = std::find(ev.message.mentions.begin(), ev.message.mentions.end(), me) !=
                       ev.message.mentions.end();
      strip = !sees_content(s->intents(), dm, own, mentioned);
    }
    FramePtr& frame = strip ? stripped : full;
    if (!frame) {
      Json d = event_data(ev, strip, s->user_id());
      if (d.is_null()) {
        unknown = true;
        break;
      }
      frame = make_dispatch(ev.t, dump(d));
      worker_.metrics().dispatches->inc();
    }
    s->dispatch(frame);
  }
  if (unknown) log::debug("fanout", "event type not dispatched", {{"t", ev.t}});
}

// GUILD_CREATE / GUILD_DELETE for a user: their sessions here join or leave the guild.
void Fanout::on_user_guild_change(const proto::Event& ev, uint64_t user_id) {
  auto it = users_.find(user_id);
  if (it == users_.end()) return;
  std::vector<Session*> targets = it->second.sessions;
  if (worker_.presence().guild_change(ev, targets)) return;  // held for presences
  uint64_t guild_id =
      ev.t == "GUILD_CREATE" ? ev.guild.id : (ev.guild_id ? ev.guild_id : ev.guild.id);
  if (!guild_id) return;
  bool create = ev.t == "GUILD_CREATE";
  std::vector<Session*> affected;
  for (Session* s : targets) {
    if (!s->receiving() || !s->wants_guild(guild_id)) continue;
    if (create == s->in_guild(guild_id)) continue;  // already in (or already out)
    affected.push_back(s);
  }
  if (affected.empty()) return;
  proto::Event copy = ev;
  copy.guild_id = guild_id;
  deliver(copy, affected);
  for (Session* s : affected) {
    if (!s->receiving()) continue;
    if (create)
      s->join_guild(guild_id);
    else
      s->leave_guild(guild_id);
  }
}

}  // namespace chat::gateway
