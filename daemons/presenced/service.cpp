// Service: presenced's subscriptions, decoding, queries and publishing (see service.hpp).
#include "service.hpp"

#include <unistd.h>

#include <chrono>
#include <random>

#include "bad_request.hpp"
#include "chat/obs/log.hpp"
#include "chat/proto/ops.hpp"
#include "chat/proto/subjects.hpp"

namespace chat::presenced {
namespace {

uint64_t mono_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

int64_t wall_offset_ms() {
  using namespace std::chrono;
  int64_t wall = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return wall - static_cast<int64_t>(mono_ms());
}

std::string random_token() {
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

PresenceSettings settings_from(const Config& cfg) {
  PresenceSettings s;
  s.lease_timeout_ms = static_cast<uint64_t>(cfg.presence.lease_timeout_ms);
  s.coalesce_ms = static_cast<uint64_t>(cfg.presence.coalesce_ms);
  s.guild_rate = cfg.presence.guild_rate;
  s.guild_burst = static_cast<uint32_t>(cfg.presence.guild_burst);
  s.large_guild_threshold = static_cast<uint32_t>(cfg.presence.large_guild_threshold);
  s.sync_window_ms = static_cast<uint64_t>(cfg.presence.sync_window_ms);
  return s;
}

Service::Service(bus::Bus& bus, const Config& cfg, obs::Registry& registry)
    : bus_(bus),
      shards_(cfg.presence_shards()),
      state_(settings_from(cfg), mono_ms(), wall_offset_ms()) {
  state_.set_range(UserRange{cfg.shards < 1 ? 1 : cfg.shards, shards_.first, shards_.last});
  bad_messages_ = &registry.counter("chat_presenced_bad_messages_total",
                                    "bus messages dropped as undecodable or unknown");
  published_events_ =
      &registry.counter("chat_presenced_published_events_total",
                        "PRESENCE_UPDATE events published (guild and user subjects)");
  published_records_ = &registry.counter("chat_presenced_published_records_total",
                                         "presence records in published events");
  queries_ = &registry.counter("chat_presenced_queries_total", "queries answered");
  PresenceState* st = &state_;
  registry.gauge_fn("chat_presenced_sessions", "sessions known, all nodes",
                    [st] { return static_cast<double>(st->session_count()); });
  registry.gauge_fn("chat_presenced_users", "users with a session or a change in flight",
                    [st] { return static_cast<double>(st->user_count()); });
  registry.gauge_fn("chat_presenced_nodes", "gateway nodes holding a lease",
                    [st] { return static_cast<double>(st->node_count()); });
  registry.gauge_fn("chat_presenced_pending_records", "records waiting for a guild's rate limit",
                    [st] { return static_cast<double>(st->pending_records()); });
  registry.gauge_fn("chat_presenced_coalesced_total", "changes that cancelled out in the window",
                    [st] { return static_cast<double>(st->stats().coalesced); });
  registry.gauge_fn("chat_presenced_expired_sessions_total", "sessions dropped by lease expiry",
                    [st] { return static_cast<double>(st->stats().expired_sessions); });
}

uint64_t Service::now() const {
  return mono_ms();
}

bool Service::start(std::function<void()> on_live) {
  for (int shard = shards_.first; shard <= shards_.last; ++shard) {
    std::string subject = subjects::presence(static_cast<uint32_t>(shard));
    uint64_t id = bus_.subscribe(subject, [this](bus::Message& m) { on_request(m); });
    if (!id) {
      log::err("presence", "cannot subscribe", {{"subject", subject}});
      return false;
    }
    subs_.push_back(id);
  }
  uint64_t lease = bus_.subscribe("chat.lease.*", [this](bus::Message& m) { on_lease(m); });
  inbox_ = "chat.presence.resync." + random_token();
  uint64_t inbox = bus_.subscribe(inbox_, [this](bus::Message& m) { on_request(m); });
  probe_subject_ = "_presenced.live." + std::to_string(getpid()) + "." + random_token();
  uint64_t probe_sub =
      bus_.subscribe(probe_subject_, [this](bus::Message& m) { bus_.respond(m, "ok"); });
  if (!lease || !inbox || !probe_sub) {
    log::err("presence", "cannot subscribe", {{"subject", "chat.lease.* or the resync inbox"}});
    return false;
  }
  subs_.insert(subs_.end(), {lease, inbox, probe_sub});
  serving_ = true;
  on_live_ = std::move(on_live);
  probe();
  return true;
}

void Service::probe() {
  bus_.request(probe_subject_, "live?", 2000, [this](bus::Status s, bus::Message&) {
    if (!serving_) return;
    if (s != bus::Status::ok) {
      log::warn("presence", "subscriptions not confirmed yet, asking again",
                {{"status", bus::to_string(s)}});
      return probe();
    }
    request_sync("");  // every node: rebuild the online set
    if (on_live_) {
      auto fn = std::move(on_live_);
      on_live_ = nullptr;
      fn();
    }
  });
}

void Service::tick() {
  if (serving_) state_.tick(now(), *this);
}

void Service::reload(const Config& cfg) {
  state_.set_settings(settings_from(cfg));
}

void Service::stop() {
  serving_ = false;
  for (uint64_t id : subs_) bus_.unsubscribe(id);
  subs_.clear();
}

// ---- input -----------------------------------------------------------------------------

void Service::answer(const bus::Message& m, const proto::PresenceReply& reply) {
  if (!m.reply.empty()) bus_.respond(m, proto::pack(reply));
}

void Service::on_request(bus::Message& m) {
  proto::PresenceRequest req;
  std::string error;
  if (!proto::unpack(m.data, req, &error)) {
    // `req` may be half filled (v keeps its default when the map itself is refused), so
    // what is logged comes from the bytes: the op if one can be read, the field refused,
    // the size and the first bytes. A well-formed head followed by unrelated bytes points
    // at damage on the way (e.g. a bus connection lost mid-message), not at a sender.
    BadRequest bad = describe_bad_request(m.data);
    bad_messages_->inc();
    log::warn("presence", "bad request dropped",
              {{"subject", m.subject},
               {"error", error},
               {"op", bad.op},
               {"field", bad.field},
               {"bytes", bad.bytes},
               {"head", bad.head},
               {"request", m.reply.empty() ? "no" : "yes"}});
    proto::PresenceReply r;
    r.status = 400;
    r.error = "undecodable: " + error + (bad.field.empty() ? "" : " (" + bad.field + ")");
    return answer(m, r);
  }
  if (req.v > proto::kPresenceSchemaVersion) {
    bad_messages_->inc();
    log::warn("presence", "request of a newer version dropped",
              {{"subject", m.subject}, {"op", req.op}, {"v", req.v}});
    proto::PresenceReply r;
    r.status = 400;
    r.error = "unsupported version";
    return answer(m, r);
  }
  uint64_t t = now();
  if (req.op == "online" || req.op == "status") {
    for (const proto::SessionPresence& s : req.sessions) {
      if (req.op == "online")
        state_.online(req.node, s, t);
      else
        state_.status(req.node, s, t);
    }
    return;
  }
  if (req.op == "offline") return state_.offline(req.node, req.session_id, t);
  if (req.op == "guild.join") return state_.guild_join(req.user_id, req.guild_id, req.members, t);
  if (req.op == "guild.leave") return state_.guild_leave(req.user_id, req.guild_id);
  if (req.op == "sync") {
    // A node lists all its sessions; only users in our shard range are ours to hold.
    for (const proto::SessionPresence& s : req.sessions)
      if (!state_.sync_session(req.node, req.sync_id, s, t)) ++sync_foreign_[req.node];
    if (req.last) {
      state_.sync_done(req.node, req.sync_id, t);
      uint64_t foreign = 0;
      if (auto it = sync_foreign_.find(req.node); it != sync_foreign_.end()) {
        foreign = it->second;
        sync_foreign_.erase(it);
      }
      log::info("presence", "node synced",
                {{"node", req.node}, {"sync_id", req.sync_id}, {"outside_range", foreign}});
    }
    return;
  }
  if (req.op.starts_with("query.") || req.op.starts_with("admin.")) return query(m, req);
  bad_messages_->inc();
  log::warn("presence", "unknown op", {{"op", req.op}, {"subject", m.subject}});
  proto::PresenceReply r;
  r.status = 400;
  r.error = "unknown op " + req.op;
  answer(m, r);
}

void Service::query(const bus::Message& m, const proto::PresenceRequest& req) {
  queries_->inc();
  proto::PresenceReply r;
  if (req.op == "query.guilds") {
    for (uint64_t gid : req.guild_ids) {
      proto::GuildPresences gp;
      gp.guild_id = gid;
      if (state_.guild_presences(gid, gp.presences)) r.guilds.push_back(std::move(gp));
    }
  } else if (req.op == "query.users" || req.op == "admin.users") {
    bool all = req.op == "admin.users";
    for (uint64_t uid : req.ids) {
      proto::PresenceRecord p = state_.presence_of(uid);
      if (all || p.status != "offline") r.presences.push_back(std::move(p));
    }
  } else if (req.op == "admin.guild") {
    uint32_t members = 0;
    state_.guild_online(req.guild_id, r.presences, members);
    r.count = members;
  } else {
    r.status = 400;
    r.error = "unknown op " + req.op;
  }
  answer(m, r);
}

void Service::on_lease(bus::Message& m) {
  proto::LeaseBeat b;
  std::string error;
  if (!proto::unpack(m.data, b, &error) || b.v > proto::kPresenceSchemaVersion || b.node.empty()) {
    bad_messages_->inc();
    log::warn("presence", "bad lease beat dropped", {{"subject", m.subject}, {"error", error}});
    return;
  }
  state_.beat(b, now());
}

// ---- output (Sink) ---------------------------------------------------------------------

void Service::guild_update(uint64_t guild_id, std::vector<proto::PresenceRecord> records) {
  proto::Event ev;
  ev.t = "PRESENCE_UPDATE";
  ev.guild_id = guild_id;
  published_records_->inc(records.size());
  ev.presences = std::move(records);
  published_events_->inc();
  bus_.publish(subjects::guild_events(guild_id), proto::pack(ev));
}

void Service::user_update(const proto::PresenceRecord& record) {
  proto::Event ev;
  ev.t = "PRESENCE_UPDATE";
  ev.user_id = record.user_id;
  ev.presences = {record};
  published_events_->inc();
  published_records_->inc();
  bus_.publish(proto::presence_user_subject(record.user_id), proto::pack(ev));
}

void Service::request_sync(const std::string& node) {
  proto::SyncRequest req;
  req.reply_to = inbox_;
  req.node = node;
  req.sync_id = ++sync_counter_;
  bus_.publish(proto::kPresenceSyncSubject, proto::pack(req));
  log::info("presence", "resync requested", {{"node", node.empty() ? "*" : node}});
}

void Service::node_expired(const std::string& node, size_t sessions) {
  log::notice("presence", "node lease expired", {{"node", node}, {"sessions", sessions}});
}

}  // namespace chat::presenced
