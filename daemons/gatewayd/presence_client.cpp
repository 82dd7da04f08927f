// PresenceClient: the gateway's presence node (see presence_client.hpp).
#include "presence_client.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

#include "chat/obs/log.hpp"
#include "chat/proto/discord_json.hpp"
#include "chat/proto/snowflake.hpp"
#include "chat/proto/subjects.hpp"
#include "dispatch_frame.hpp"
#include "intents.hpp"
#include "json_text.hpp"
#include "presence_json.hpp"
#include "rest.hpp"
#include "session.hpp"
#include "worker.hpp"

namespace chat::gateway {
namespace {

using Json = nlohmann::json;

constexpr size_t kSyncChunk = 200;  // sessions per resync message

uint64_t wall_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

Json iso_or_null(uint64_t ms) {
  if (!ms) return nullptr;
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d000+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// The admin view of one presence (CLI.md: user_id, status, since, client_status).
Json admin_presence(const proto::PresenceRecord& r) {
  Json j = presence_json(r);
  Json out = {{"user_id", proto::id_string(r.user_id)},
              {"status", r.status},
              {"since", iso_or_null(r.since_ms)},
              {"client_status", j["client_status"]},
              {"activities", j["activities"]}};
  return out;
}

std::string bearer(const http::Request& r) {
  std::string_view h = r.headers.get("Authorization");
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  for (std::string_view prefix : {"Bot ", "Bearer "})
    if (h.size() > prefix.size() && http::iequals(h.substr(0, prefix.size()), prefix)) {
      h.remove_prefix(prefix.size());
      break;
    }
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return std::string(h);
}

// One counter for all the loops of a process (the registry adds an entry per call).
obs::Counter& refused_counter(obs::Registry& registry) {
  static std::mutex mu;
  static std::map<obs::Registry*, obs::Counter*> made;
  std::lock_guard lock(mu);
  obs::Counter*& c = made[&registry];
  if (!c)
    c = &registry.counter("chat_gatewayd_presence_watch_refused_total",
                          "op 8 presence watches refused: the session was at "
                          "gateway.max_presence_watches");
  return *c;
}

}  // namespace

PresenceClient::PresenceClient(Worker& worker) : worker_(worker) {
  static obs::Registry fallback;  // a worker without a registry (unit use)
  refused_ = &refused_counter(worker_.shared().registry ? *worker_.shared().registry : fallback);
}

PresenceClient::~PresenceClient() {
  *alive_ = false;
  beat_timer_.reset();
  if (sync_sub_) worker_.bus().unsubscribe(sync_sub_);
  for (auto& [u, w] : watches_)
    if (w.sub) worker_.bus().unsubscribe(w.sub);
}

bool PresenceClient::open() {
  std::random_device rd;
  char buf[64];
  std::snprintf(buf, sizeof buf, "gw%d-%06x-%d", static_cast<int>(getpid()), rd() & 0xFFFFFF,
                worker_.index());
  node_ = buf;
  started_ms_ = wall_ms();
  sync_sub_ =
      worker_.bus().subscribe(proto::kPresenceSyncSubject, [this](bus::Message& m) { on_sync(m); });
  if (!sync_sub_) return false;
  int period = std::max(100, worker_.config().presence.lease_timeout_ms / 3);
  beat_timer_ = std::make_unique<sys::Timer>(worker_.base(), period, [this] { beat(); });
  beat();
  return true;
}

// ---- bus helpers -----------------------------------------------------------------------

void PresenceClient::publish(uint64_t user_id, const proto::PresenceRequest& req) {
  uint32_t shard = subjects::shard_of(user_id, worker_.config().shards);
  worker_.bus().publish(subjects::presence(shard), proto::pack(req));
}

void PresenceClient::request(uint32_t shard, const proto::PresenceRequest& req, ReplyFn done) {
  worker_.bus().request(subjects::presence(shard), proto::pack(req),
                        worker_.config().presence.request_timeout_ms,
                        [done = std::move(done), op = req.op](bus::Status st, bus::Message& m) {
                          proto::PresenceReply reply;
                          std::string err;
                          if (st != bus::Status::ok) {
                            log::debug("presence", "presenced request failed",
                                       {{"op", op}, {"status", bus::to_string(st)}});
                            return done(false, reply);
                          }
                          if (!proto::unpack(m.data, reply, &err) ||
                              reply.v > proto::kPresenceSchemaVersion || reply.status != 200) {
                            log::warn("presence", "bad presenced reply",
                                      {{"op", op}, {"error", err.empty() ? reply.error : err}});
                            return done(false, reply);
                          }
                          done(true, reply);
                        });
}

void PresenceClient::request_all(const proto::PresenceRequest& req, ReplyFn done) {
  int shards = std::max(1, worker_.config().shards);
  struct Gather {
    int left;
    bool any = false;
    proto::PresenceReply merged;
    ReplyFn done;
  };
  auto g = std::make_shared<Gather>();
  g->left = shards;
  g->done = std::move(done);
  for (int s = 0; s < shards; ++s)
    request(static_cast<uint32_t>(s), req, [g](bool ok, proto::PresenceReply& r) {
      if (ok) {
        g->any = true;
        for (auto& p : r.presences) g->merged.presences.push_back(std::move(p));
        for (auto& gp : r.guilds) {
          auto it = std::find_if(
              g->merged.guilds.begin(), g->merged.guilds.end(),
              [&](const proto::GuildPresences& x) { return x.guild_id == gp.guild_id; });
          if (it == g->merged.guilds.end())
            g->merged.guilds.push_back(std::move(gp));
          else
            for (auto& p : gp.presences) it->presences.push_back(std::move(p));
        }
        g->merged.count = std::max(g->merged.count, r.count);
      }
      if (--g->left == 0) g->done(g->any, g->merged);
    });
}

void PresenceClient::beat() {
  proto::LeaseBeat b;
  b.node = node_;
  b.started_ms = started_ms_;
  b.sessions = announced_;
  b.seq = ++beat_seq_;
  worker_.bus().publish(subjects::lease(node_), proto::pack(b));
}

void PresenceClient::on_sync(bus::Message& m) {
  proto::SyncRequest req;
  std::string err;
  if (!proto::unpack(m.data, req, &err) || req.v > proto::kPresenceSchemaVersion ||
      req.reply_to.empty()) {
    log::warn("presence", "bad sync request dropped", {{"error", err}});
    return;
  }
  if (!req.node.empty() && req.node != node_) return;
  proto::PresenceRequest chunk;
  chunk.op = "sync";
  chunk.node = node_;
  chunk.sync_id = req.sync_id;
  size_t sent = 0;
  for (auto& [sid, e] : sessions_) {
    if (!e.announced) continue;
    chunk.sessions.push_back(e.presence);
    if (chunk.sessions.size() >= kSyncChunk) {
      worker_.bus().publish(req.reply_to, proto::pack(chunk));
      sent += chunk.sessions.size();
      chunk.sessions.clear();
    }
  }
  sent += chunk.sessions.size();
  chunk.last = true;
  worker_.bus().publish(req.reply_to, proto::pack(chunk));
  log::info("presence", "resync answered", {{"node", node_}, {"sessions", sent}});
}

// ---- session hooks ---------------------------------------------------------------------

bool PresenceClient::identify(uint64_t session_id, const Json& d, std::string& why) {
  Entry& e = sessions_[session_id];
  e.presence.session_id = session_id;
  if (auto p = d.find("properties"); p != d.end()) e.presence.client = client_type(*p);
  if (auto p = d.find("presence"); p != d.end() && !p->is_null()) {
    proto::SessionPresence next = e.presence;
    if (!parse_presence(*p, next, why)) return false;  // keep the defaults
    e.presence = std::move(next);
  }
  return true;
}

void PresenceClient::ready(Session& s, const proto::GuildReply& reply,
                           std::function<void(GuildPresenceMap)> then) {
  Entry& e = sessions_[s.id()];
  e.presence.session_id = s.id();
  e.presence.user_id = s.user_id();
  e.presence.guilds.clear();
  for (const proto::Guild& g : reply.guilds) {
    // The real count (guilds.mine lists only the session's own member of a big guild);
    // counting the members listed is for a guildd older than member_count.
    uint32_t members = g.member_count;
    if (members == 0)
      for (const proto::Member& m : reply.members)
        if (m.guild_id == g.id) ++members;
    e.presence.guilds.push_back({g.id, members});
  }
  proto::PresenceRequest online;
  online.op = "online";
  online.node = node_;
  online.sessions = {e.presence};
  publish(s.user_id(), online);
  if (!e.announced) ++announced_;
  e.announced = true;

  uint32_t threshold = static_cast<uint32_t>(worker_.config().presence.large_guild_threshold);
  proto::PresenceRequest q;
  q.op = "query.guilds";
  for (const proto::GuildSize& g : e.presence.guilds)
    if (g.members <= threshold && s.wants_guild(g.id)) q.guild_ids.push_back(g.id);
  if (!(s.intents() & intent::guild_presences) || q.guild_ids.empty()) return then({});
  Worker* w = &worker_;
  uint64_t sid = s.id();
  request_all(q, [w, sid, then = std::move(then)](bool ok, proto::PresenceReply& r) {
    GuildPresenceMap map;
    if (ok)
      for (const proto::GuildPresences& gp : r.guilds) {
        Json a = Json::array();
        for (const proto::PresenceRecord& p : gp.presences) a.push_back(presence_json(p));
        map[gp.guild_id] = std::move(a);
      }
    if (w->find(sid)) then(std::move(map));
  });
}

bool PresenceClient::update(Session& s, const Json& d, std::string& why) {
  auto it = sessions_.find(s.id());
  if (it == sessions_.end()) return true;
  Entry& e = it->second;
  proto::SessionPresence next = e.presence;
  if (!parse_presence(d, next, why)) return false;
  e.presence = std::move(next);
  if (!e.announced) return true;
  proto::PresenceRequest req;
  req.op = "status";
  req.node = node_;
  req.sessions = {e.presence};
  req.sessions[0].guilds.clear();  // unchanged
  publish(e.presence.user_id, req);
  return true;
}

void PresenceClient::detached(uint64_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end() || !it->second.announced) return;
  it->second.announced = false;
  --announced_;
  proto::PresenceRequest req;
  req.op = "offline";
  req.node = node_;
  req.session_id = session_id;
  req.user_id = it->second.presence.user_id;
  publish(req.user_id, req);
}

void PresenceClient::resumed(uint64_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end() || it->second.announced || !it->second.presence.user_id) return;
  it->second.announced = true;
  ++announced_;
  proto::PresenceRequest req;
  req.op = "online";
  req.node = node_;
  req.sessions = {it->second.presence};
  publish(it->second.presence.user_id, req);
}

void PresenceClient::ended(uint64_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  detached(session_id);
  unwatch_all(it->second, session_id);
  sessions_.erase(it);
}

// ---- op 8 and large guilds -------------------------------------------------------------

bool PresenceClient::large_guild(const Entry& e, uint64_t guild_id) const {
  uint32_t threshold = static_cast<uint32_t>(worker_.config().presence.large_guild_threshold);
  for (const proto::GuildSize& g : e.presence.guilds)
    if (g.id == guild_id) return g.members > threshold;
  return false;
}

void PresenceClient::member_chunk(Session& s, uint64_t guild_id, Json chunk, bool presences,
                                  std::vector<uint64_t> user_ids, std::function<void()> sent) {
  if (!presences || !(s.intents() & intent::guild_presences) || user_ids.empty()) {
    s.dispatch(make_dispatch("GUILD_MEMBERS_CHUNK", dump(chunk)));
    if (sent) sent();
    return;
  }
  auto it = sessions_.find(s.id());
  if (it != sessions_.end() && large_guild(it->second, guild_id)) {
    Entry& e = it->second;
    size_t refused = 0;
    for (uint64_t u : user_ids)
      if (!watch(e, s.id(), guild_id, u)) ++refused;
    if (refused) {
      refused_->inc(refused);
      if (!e.cap_logged) {
        e.cap_logged = true;
        log::info("presence", "presence watch limit reached, asks get no more watches",
                  {{"session", s.id()},
                   {"user", s.user_id()},
                   {"guild", guild_id},
                   {"limit", worker_.config().gateway.max_presence_watches},
                   {"refused", refused}});
      }
    }
  }
  proto::PresenceRequest q;
  q.op = "query.users";
  q.ids = std::move(user_ids);
  Worker* w = &worker_;
  uint64_t sid = s.id();
  request_all(q, [w, sid, chunk = std::move(chunk), sent = std::move(sent)](
                     bool ok, proto::PresenceReply& r) mutable {
    Session* s = w->find(sid);
    if (!s || !s->receiving()) return;
    Json a = Json::array();
    if (ok)
      for (const proto::PresenceRecord& p : r.presences) a.push_back(presence_json(p));
    chunk["presences"] = std::move(a);
    s->dispatch(make_dispatch("GUILD_MEMBERS_CHUNK", dump(chunk)));
    if (sent) sent();
  });
}

bool PresenceClient::watch(Entry& e, uint64_t session_id, uint64_t guild_id, uint64_t user_id) {
  bool known = std::find(e.watching.begin(), e.watching.end(), user_id) != e.watching.end();
  size_t cap = static_cast<size_t>(std::max(0, worker_.config().gateway.max_presence_watches));
  if (!known && e.watching.size() >= cap) return false;
  Watch& w = watches_[user_id];
  std::pair<uint64_t, uint64_t> key{session_id, guild_id};
  if (std::find(w.sessions.begin(), w.sessions.end(), key) != w.sessions.end()) return true;
  w.sessions.push_back(key);
  if (!known) e.watching.push_back(user_id);
  if (!w.sub)
    w.sub =
        worker_.bus().subscribe(proto::presence_user_subject(user_id),
                                [this, user_id](bus::Message& m) { on_user_presence(user_id, m); });
  return true;
}

void PresenceClient::unwatch_all(Entry& e, uint64_t session_id) {
  for (uint64_t user_id : e.watching) {
    auto it = watches_.find(user_id);
    if (it == watches_.end()) continue;
    auto& v = it->second.sessions;
    v.erase(std::remove_if(v.begin(), v.end(), [&](auto& p) { return p.first == session_id; }),
            v.end());
    if (v.empty()) {
      if (it->second.sub) worker_.bus().unsubscribe(it->second.sub);
      watches_.erase(it);
    }
  }
  e.watching.clear();
}

void PresenceClient::unwatch_guild(Entry& e, uint64_t session_id, uint64_t guild_id) {
  std::pair<uint64_t, uint64_t> key{session_id, guild_id};
  auto keep = e.watching.begin();
  for (uint64_t user_id : e.watching) {
    auto it = watches_.find(user_id);
    bool still = false;  // watched by this session for another guild
    if (it != watches_.end()) {
      auto& v = it->second.sessions;
      v.erase(std::remove(v.begin(), v.end(), key), v.end());
      still = std::any_of(v.begin(), v.end(), [&](auto& p) { return p.first == session_id; });
      if (v.empty()) {
        if (it->second.sub) worker_.bus().unsubscribe(it->second.sub);
        watches_.erase(it);
      }
    }
    if (still) *keep++ = user_id;
  }
  e.watching.erase(keep, e.watching.end());
}

void PresenceClient::on_user_presence(uint64_t user_id, bus::Message& m) {
  proto::Event ev;
  std::string err;
  if (!proto::unpack(m.data, ev, &err) || ev.v > proto::kSchemaVersion || ev.presences.empty()) {
    log::warn("presence", "bad user presence dropped", {{"subject", m.subject}, {"error", err}});
    return;
  }
  auto it = watches_.find(user_id);
  if (it == watches_.end()) return;
  auto targets = it->second.sessions;  // a dispatch may end a session (slow consumer)
  for (auto& [sid, gid] : targets) {
    Session* s = worker_.find(sid);
    if (!s || !s->receiving() || !(s->intents() & intent::guild_presences)) continue;
    s->dispatch(make_dispatch("PRESENCE_UPDATE", dump(presence_json(ev.presences.back(), gid))));
  }
}

void PresenceClient::deliver_guild(const proto::Event& ev, const std::vector<Session*>& targets) {
  for (const proto::PresenceRecord& r : ev.presences) {
    FramePtr frame;
    for (Session* s : targets) {
      if (!s->receiving() || !(s->intents() & intent::guild_presences)) continue;
      if (s->user_id() == r.user_id) continue;  // a session knows its own presence
      if (!frame) {
        frame = make_dispatch("PRESENCE_UPDATE", dump(presence_json(r, ev.guild_id)));
        worker_.metrics().dispatches->inc();
      }
      s->dispatch(frame);
    }
  }
}

// ---- guilds joined or left after READY --------------------------------------------------

bool PresenceClient::guild_change(const proto::Event& ev, const std::vector<Session*>& sessions) {
  bool create = ev.t == "GUILD_CREATE";
  uint64_t guild_id = create ? ev.guild.id : (ev.guild_id ? ev.guild_id : ev.guild.id);
  if (!guild_id || sessions.empty()) return false;
  uint64_t user_id = sessions.front()->user_id();
  // The real count: the event lists only the joining member of a big guild.
  uint32_t members =
      ev.guild.member_count ? ev.guild.member_count : static_cast<uint32_t>(ev.members.size());
  std::pair<uint64_t, uint64_t> key{user_id, guild_id};

  // The sessions' guild lists, and presenced, follow the membership.
  bool changed = false, announced = false;
  for (Session* s : sessions) {
    auto it = sessions_.find(s->id());
    if (it == sessions_.end()) continue;
    Entry& e = it->second;
    announced = announced || e.announced;
    auto& list = e.presence.guilds;
    auto pos = std::find_if(list.begin(), list.end(),
                            [&](const proto::GuildSize& g) { return g.id == guild_id; });
    if (create && pos == list.end()) {
      list.push_back({guild_id, members});
      changed = true;
    } else if (create && members) {
      pos->members = members;
    } else if (!create && pos != list.end()) {
      list.erase(pos);
      unwatch_guild(e, s->id(), guild_id);
      changed = true;
    }
  }
  if (changed && announced) {
    proto::PresenceRequest req;
    req.op = create ? "guild.join" : "guild.leave";
    req.node = node_;
    req.session_id = sessions.front()->id();
    req.user_id = user_id;
    req.guild_id = guild_id;
    req.members = create ? members : 0;
    publish(user_id, req);
    log::debug("presence", "guild membership changed",
               {{"op", req.op}, {"user", user_id}, {"guild", guild_id}});
  }
  if (!create) {
    held_.erase(key);  // a GUILD_CREATE still waiting for presences is not delivered
    return false;
  }
  if (held_.count(key)) return true;  // the first one, still waiting, will do

  // A small guild and a session that wants presences: hold the GUILD_CREATE for them.
  uint32_t threshold = static_cast<uint32_t>(worker_.config().presence.large_guild_threshold);
  if (members > threshold) return false;
  std::vector<uint64_t> joining;
  bool wants = false;
  for (Session* s : sessions) {
    if (!s->receiving() || !s->wants_guild(guild_id) || s->in_guild(guild_id)) continue;
    joining.push_back(s->id());
    wants = wants || (s->intents() & intent::guild_presences);
  }
  if (!wants) return false;
  uint64_t hold = ++hold_seq_;
  held_[key] = hold;
  proto::PresenceRequest q;
  q.op = "query.guilds";
  q.guild_ids = {guild_id};
  auto copy = std::make_shared<proto::Event>(ev);
  copy->guild_id = guild_id;
  std::weak_ptr<bool> alive = alive_;
  request_all(q, [this, alive, key, hold, copy, joining](bool ok, proto::PresenceReply& r) {
    if (alive.expired() || !*alive.lock()) return;
    auto it = held_.find(key);
    if (it == held_.end() || it->second != hold) return;  // left meanwhile
    held_.erase(it);
    Json presences = Json::array();
    if (ok)
      for (const proto::GuildPresences& gp : r.guilds)
        for (const proto::PresenceRecord& p : gp.presences) presences.push_back(presence_json(p));
    deliver_joined(*copy, joining, presences);
  });
  return true;
}

void PresenceClient::deliver_joined(const proto::Event& ev, const std::vector<uint64_t>& joining,
                                    const Json& presences) {
  uint64_t guild_id = ev.guild_id;
  FramePtr with, without;  // encoded once each
  for (uint64_t sid : joining) {
    Session* s = worker_.find(sid);
    if (!s || !s->receiving() || !s->wants_guild(guild_id) || s->in_guild(guild_id)) continue;
    bool full = s->intents() & intent::guild_presences;
    FramePtr& frame = full ? with : without;
    if (!frame) {
      Json gc = proto::guild_create_json(ev.guild, ev.channels, ev.members, s->user_id());
      if (full) gc["presences"] = presences;
      frame = make_dispatch("GUILD_CREATE", dump(gc));
      worker_.metrics().dispatches->inc();
    }
    s->dispatch(frame);
    if (s->receiving()) s->join_guild(guild_id);
  }
}

// ---- admin routes ----------------------------------------------------------------------

bool PresenceClient::handle_admin(http::Request& request, http::Responder& responder) {
  std::string_view path = request.path;
  for (std::string_view prefix :
       {"/api/v10/admin/presence/", "/api/v9/admin/presence/", "/api/admin/presence/"}) {
    if (!path.starts_with(prefix)) continue;
    path.remove_prefix(prefix.size());
    std::string what;
    if (path.starts_with("users/"))
      what = "users";
    else if (path.starts_with("guilds/"))
      what = "guilds";
    else
      return false;
    path.remove_prefix(what.size() + 1);
    if (request.method != "GET") {
      responder.send(rest_error(405, 0, "405: Method Not Allowed"));
      return true;
    }
    uint64_t id = 0;
    if (!parse_snowflake(std::string(path), id)) {
      responder.send(rest_error(400, proto::kInvalidFormBody, "Invalid Form Body",
                                what == "users" ? "user_id" : "guild_id", "NUMBER_TYPE_COERCE",
                                "Value \"" + std::string(path) + "\" is not snowflake."));
      return true;
    }
    std::string token = bearer(request);
    if (token.empty()) {
      responder.send(rest_error(401, proto::kUnauthorized, "401: Unauthorized"));
      return true;
    }
    proto::GuildRequest auth;
    auth.op = "auth";
    auth.token = token;
    worker_.guild_request(auth, [this, what, id, responder](bus::Status, proto::GuildReply& r) {
      if (!responder.pending()) return;
      if (r.status == 401 || r.status == 403)
        return responder.send(rest_error(401, proto::kUnauthorized, "401: Unauthorized"));
      if (r.status != 200 || r.users.empty())
        return responder.send(rest_error(503, 0, "service unavailable"));
      if (!r.users[0].admin)
        return responder.send(rest_error(403, proto::kMissingPermissions, "Missing Permissions"));
      admin_answer(what, id, responder);
    });
    return true;
  }
  return false;
}

void PresenceClient::admin_answer(const std::string& what, uint64_t id, http::Responder responder) {
  proto::PresenceRequest q;
  auto fail = [](http::Responder& resp) {
    http::Response r = rest_error(503, 0, "presenced is not answering");
    r.headers.add("Retry-After", "1");
    resp.send(std::move(r));
  };
  if (what == "users") {
    q.op = "admin.users";
    q.ids = {id};
    uint32_t shard = subjects::shard_of(id, worker_.config().shards);
    return request(shard, q, [responder, fail](bool ok, proto::PresenceReply& r) mutable {
      if (!responder.pending()) return;
      if (!ok || r.presences.empty()) return fail(responder);
      responder.send(rest_json(200, admin_presence(r.presences[0])));
    });
  }
  q.op = "admin.guild";
  q.guild_id = id;
  request_all(q, [responder, fail, id](bool ok, proto::PresenceReply& r) mutable {
    if (!responder.pending()) return;
    if (!ok) return fail(responder);
    Json counts = {{"online", 0}, {"idle", 0}, {"dnd", 0}};
    Json list = Json::array();
    std::sort(r.presences.begin(), r.presences.end(),
              [](auto& a, auto& b) { return a.user_id < b.user_id; });
    for (const proto::PresenceRecord& p : r.presences) {
      if (counts.contains(p.status)) counts[p.status] = counts[p.status].get<int>() + 1;
      list.push_back(admin_presence(p));
    }
    uint64_t shown = r.presences.size();
    counts["offline"] = r.count > shown ? r.count - shown : 0;
    responder.send(rest_json(200, {{"guild_id", proto::id_string(id)},
                                   {"member_count", r.count},
                                   {"counts", std::move(counts)},
                                   {"presences", std::move(list)}}));
  });
}

}  // namespace chat::gateway
