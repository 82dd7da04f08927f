// PresenceState: merge, coalescing, per-guild batches and leases (see presence_state.hpp).
// Every structure is keyed for the storm case: a node's lease running out touches each of
// its sessions once, each affected user once (dirty list), and each affected guild once
// per tick (active list), so the work is linear in what changed, never in what exists.
#include "presence_state.hpp"

#include <algorithm>
#include <cmath>

#include "chat/proto/subjects.hpp"

namespace chat::presenced {

bool UserRange::owns(uint64_t user_id) const {
  if (all()) return true;
  int shard = static_cast<int>(subjects::shard_of(user_id, shards));
  return shard >= first && shard <= last;
}

int status_rank(const std::string& status) {
  if (status == "online") return 4;
  if (status == "dnd") return 3;
  if (status == "idle") return 2;
  if (status == "invisible") return 1;
  return 0;
}

PresenceState::PresenceState(PresenceSettings settings, uint64_t start_ms, int64_t wall_offset_ms)
    : settings_(settings), start_ms_(start_ms), wall_offset_ms_(wall_offset_ms) {}

PresenceState::Node& PresenceState::node(const std::string& name, uint64_t now) {
  auto [it, fresh] = nodes_.try_emplace(name);
  if (fresh) it->second.last_beat = now;  // a first message counts as a beat
  return it->second;
}

// ---- input -----------------------------------------------------------------------------

void PresenceState::online(const std::string& node_name, const proto::SessionPresence& s,
                           uint64_t now, bool from_sync) {
  if (!s.session_id || !s.user_id) return;
  bool silent = from_sync && now < start_ms_ + settings_.sync_window_ms &&
                users_.find(s.user_id) == users_.end();
  upsert(node_name, s, now, true);
  if (silent) {
    User& u = users_[s.user_id];
    u.published = u.current;  // watchers saw this before presenced restarted
  }
}

void PresenceState::status(const std::string& node_name, const proto::SessionPresence& s,
                           uint64_t now) {
  if (!s.session_id || !s.user_id) return;
  upsert(node_name, s, now, true);
}

void PresenceState::upsert(const std::string& node_name, const proto::SessionPresence& s,
                           uint64_t now, bool keep_guilds_if_empty) {
  auto it = sessions_.find(s.session_id);
  if (it != sessions_.end() && it->second.user_id != s.user_id) {
    remove_session(s.session_id, now);  // a reused id: treat as a new session
    it = sessions_.end();
  }
  User& u = users_[s.user_id];
  if (it == sessions_.end()) {
    it = sessions_.emplace(s.session_id, Session{}).first;
    it->second.user_id = s.user_id;
  } else {
    unlink(it->second, u);
  }
  Session& ss = it->second;
  if (ss.node != node_name) {
    if (!ss.node.empty())
      if (auto n = nodes_.find(ss.node); n != nodes_.end()) n->second.sessions.erase(s.session_id);
    ss.node = node_name;
  }
  node(node_name, now).sessions.insert(s.session_id);
  ss.status = s.status;
  ss.rank = status_rank(s.status);
  ss.activities = s.activities;
  ss.client = s.client.empty() ? "web" : s.client;
  ss.slot = ss.client == "desktop" ? 0 : ss.client == "mobile" ? 1 : 2;
  link(s.session_id, ss, u);  // at the end of its rank's list: the most recent
  if (!s.guilds.empty() || !keep_guilds_if_empty) set_guilds(s.user_id, u, s.guilds);
  recompute(s.user_id, u, now);
}

void PresenceState::offline(const std::string&, uint64_t session_id, uint64_t now) {
  remove_session(session_id, now);
}

void PresenceState::remove_session(uint64_t session_id, uint64_t now) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  uint64_t user_id = it->second.user_id;
  if (auto n = nodes_.find(it->second.node); n != nodes_.end())
    n->second.sessions.erase(session_id);
  auto u = users_.find(user_id);
  if (u != users_.end()) unlink(it->second, u->second);
  sessions_.erase(it);
  if (u != users_.end()) recompute(user_id, u->second, now);
}

void PresenceState::link(uint64_t session_id, Session& s, User& u) {
  s.pos = u.by_rank[s.rank].insert(u.by_rank[s.rank].end(), session_id);
  ++u.client_count[s.slot][s.rank];
  ++u.sessions;
}

void PresenceState::unlink(Session& s, User& u) {
  u.by_rank[s.rank].erase(s.pos);
  --u.client_count[s.slot][s.rank];
  --u.sessions;
}

void PresenceState::set_guilds(uint64_t user_id, User& u,
                               const std::vector<proto::GuildSize>& guilds) {
  bool shown = u.current.status != "offline";
  for (uint64_t g : u.guilds) {
    auto it = guilds_.find(g);
    if (it == guilds_.end()) continue;
    it->second.shown.erase(user_id);
    if (it->second.refs) --it->second.refs;
  }
  u.guilds.clear();
  for (const proto::GuildSize& gs : guilds) {
    if (!gs.id || std::find(u.guilds.begin(), u.guilds.end(), gs.id) != u.guilds.end()) continue;
    u.guilds.push_back(gs.id);
    Guild& g = guilds_[gs.id];
    g.members = gs.members;
    ++g.refs;
    if (shown) g.shown.insert(user_id);
  }
}

void PresenceState::set_shown(uint64_t user_id, const User& u, bool shown) {
  for (uint64_t g : u.guilds) {
    auto it = guilds_.find(g);
    if (it == guilds_.end()) continue;
    if (shown)
      it->second.shown.insert(user_id);
    else
      it->second.shown.erase(user_id);
  }
}

void PresenceState::recompute(uint64_t user_id, User& u, uint64_t now) {
  // The winner: the most present status, the most recently updated session on a tie.
  const Session* best = nullptr;
  for (int r = 4; r >= 0 && !best; --r) {
    if (u.by_rank[r].empty()) continue;
    if (auto it = sessions_.find(u.by_rank[r].back()); it != sessions_.end()) best = &it->second;
  }
  int client_rank[3] = {0, 0, 0};  // desktop, mobile, web: the most present of each type
  for (int slot = 0; slot < 3; ++slot)
    for (int r = 4; r > 0 && !client_rank[slot]; --r)
      if (u.client_count[slot][r]) client_rank[slot] = r;
  proto::PresenceRecord next;
  next.user_id = user_id;
  if (best && best->rank >= 2) {
    next.status = best->status;
    next.activities = best->activities;
    static const char* kNames[] = {"", "", "idle", "dnd", "online"};
    std::string* slots[3] = {&next.desktop, &next.mobile, &next.web};
    for (int i = 0; i < 3; ++i)
      if (client_rank[i] >= 2) *slots[i] = kNames[client_rank[i]];
  }
  next.since_ms = next.status == u.current.status && u.current.since_ms
                      ? u.current.since_ms
                      : static_cast<uint64_t>(static_cast<int64_t>(now) + wall_offset_ms_);
  if (next.same_shown(u.current) && u.current.user_id) return;
  bool was_shown = u.current.status != "offline";
  bool shown = next.status != "offline";
  u.current = std::move(next);
  if (was_shown != shown) set_shown(user_id, u, shown);
  if (!shown) offline_since_[user_id] = u.current.since_ms;
  ++stats_.changes;
  if (!u.dirty) {
    u.dirty = true;
    u.dirty_since = now;
    dirty_.push_back(user_id);
  }
}

void PresenceState::guild_join(uint64_t user_id, uint64_t guild_id, uint32_t members,
                               uint64_t now) {
  auto it = users_.find(user_id);
  if (it == users_.end() || !guild_id || it->second.sessions == 0) return;
  User& u = it->second;
  Guild& g = guilds_[guild_id];
  if (members) g.members = members;
  if (std::find(u.guilds.begin(), u.guilds.end(), guild_id) != u.guilds.end()) return;
  u.guilds.push_back(guild_id);
  ++g.refs;
  if (u.current.status == "offline") return;
  g.shown.insert(user_id);
  // A user still inside the coalescing window goes out with its next publish, to this
  // guild too; one already published is announced to the guild now. Large guilds learn
  // nothing: their members ask (op 8) and then get the user's record on its own subject.
  if (u.dirty || !u.published.user_id || u.published.status == "offline" || is_large(g)) return;
  queue_record(guild_id, g, u.published, now);
}

void PresenceState::guild_leave(uint64_t user_id, uint64_t guild_id) {
  auto it = users_.find(user_id);
  if (it == users_.end()) return;
  User& u = it->second;
  auto pos = std::find(u.guilds.begin(), u.guilds.end(), guild_id);
  if (pos == u.guilds.end()) return;
  u.guilds.erase(pos);
  auto gi = guilds_.find(guild_id);
  if (gi == guilds_.end()) return;
  Guild& g = gi->second;
  g.shown.erase(user_id);
  g.pending.erase(user_id);  // its id stays in `order`; flush_guilds skips it
  if (g.refs) --g.refs;
  if (g.refs == 0 && !g.active) guilds_.erase(gi);
}

void PresenceState::beat(const proto::LeaseBeat& b, uint64_t now) {
  Node& n = node(b.node, now);
  n.last_beat = now;
  // With a partial range we hold a subset of the node's sessions: only more than it has
  // is a sign of trouble.
  bool agree = range_.all() ? b.sessions == n.sessions.size() : b.sessions >= n.sessions.size();
  if (agree) {
    n.mismatches = 0;
    return;
  }
  ++n.mismatches;
}

bool PresenceState::sync_session(const std::string& node_name, uint64_t sync_id,
                                 const proto::SessionPresence& s, uint64_t now) {
  if (!range_.owns(s.user_id)) return false;
  online(node_name, s, now, true);
  sync_seen(node_name, sync_id, s.session_id, now);
  return true;
}

void PresenceState::sync_seen(const std::string& node_name, uint64_t sync_id, uint64_t session_id,
                              uint64_t now) {
  Node& n = node(node_name, now);
  if (n.sync_id != sync_id) {
    n.sync_id = sync_id;
    n.sync_seen.clear();
  }
  n.sync_seen.insert(session_id);
}

void PresenceState::sync_done(const std::string& node_name, uint64_t sync_id, uint64_t now) {
  auto it = nodes_.find(node_name);
  if (it == nodes_.end()) return;
  Node& n = it->second;
  n.last_beat = std::max(n.last_beat, now);
  if (n.sync_id != sync_id) n.sync_seen.clear();  // an empty node: nothing was listed
  std::vector<uint64_t> gone;
  for (uint64_t sid : n.sessions)
    if (!n.sync_seen.count(sid)) gone.push_back(sid);
  for (uint64_t sid : gone) remove_session(sid, now);
  n.sync_seen.clear();
  n.sync_id = 0;
  n.mismatches = 0;
}

// ---- the periodic work -----------------------------------------------------------------

void PresenceState::tick(uint64_t now, Sink& sink) {
  // Leases.
  std::vector<std::string> expired;
  for (auto& [name, n] : nodes_) {
    if (now > n.last_beat + settings_.lease_timeout_ms) {
      expired.push_back(name);
      continue;
    }
    if (n.mismatches >= 2 &&
        (n.sync_asked == 0 || now > n.sync_asked + settings_.lease_timeout_ms)) {
      n.sync_asked = now;
      n.mismatches = 0;
      ++stats_.sync_requests;
      sink.request_sync(name);
    }
  }
  for (const std::string& name : expired) {
    std::vector<uint64_t> ids(nodes_[name].sessions.begin(), nodes_[name].sessions.end());
    for (uint64_t sid : ids) remove_session(sid, now);
    nodes_.erase(name);
    ++stats_.expired_nodes;
    stats_.expired_sessions += ids.size();
    sink.node_expired(name, ids.size());
  }

  // The coalescing window: users whose first change is old enough. dirty_ is in order of
  // first change, so the walk stops at the first user still inside the window.
  uint32_t budget = settings_.users_per_tick;
  size_t i = 0;
  for (; i < dirty_.size() && budget > 0; ++i) {
    uint64_t user_id = dirty_[i];
    auto it = users_.find(user_id);
    if (it == users_.end()) continue;
    User& u = it->second;
    if (now < u.dirty_since + settings_.coalesce_ms) break;
    --budget;
    u.dirty = false;
    publish_user(user_id, u, now, sink);
    if (u.sessions == 0 && u.current.status == "offline") {
      for (uint64_t g : u.guilds) {
        auto gi = guilds_.find(g);
        if (gi == guilds_.end()) continue;
        if (gi->second.refs) --gi->second.refs;
        if (gi->second.refs == 0 && gi->second.pending.empty() && !gi->second.active)
          guilds_.erase(gi);
      }
      users_.erase(it);
    }
  }
  dirty_.erase(dirty_.begin(), dirty_.begin() + static_cast<std::ptrdiff_t>(i));

  flush_guilds(now, sink);
}

void PresenceState::publish_user(uint64_t user_id, User& u, uint64_t now, Sink& sink) {
  if (u.current.same_shown(u.published) && u.published.user_id) {
    ++stats_.coalesced;
    return;
  }
  if (!u.published.user_id && u.current.status == "offline") {
    // Never announced and offline now (came and went within the window): nothing to say.
    u.published = u.current;
    ++stats_.coalesced;
    return;
  }
  u.published = u.current;
  ++stats_.user_publishes;
  bool large = false;
  for (uint64_t gid : u.guilds) {
    auto it = guilds_.find(gid);
    if (it == guilds_.end()) continue;
    Guild& g = it->second;
    if (is_large(g)) {
      large = true;
      continue;
    }
    queue_record(gid, g, u.current, now);
  }
  if (large) {
    ++stats_.user_messages;
    sink.user_update(u.current);
  }
}

void PresenceState::queue_record(uint64_t gid, Guild& g, const proto::PresenceRecord& record,
                                 uint64_t now) {
  auto [pos, fresh] = g.pending.insert_or_assign(record.user_id, record);
  if (fresh)
    g.order.push_back(record.user_id);
  else
    ++stats_.replaced;
  if (!g.active) {
    g.active = true;
    if (g.refill_ms == 0) {
      g.tokens = settings_.guild_burst;
      g.refill_ms = now;
    }
    active_guilds_.push_back(gid);
  }
}

void PresenceState::flush_guilds(uint64_t now, Sink& sink) {
  size_t keep = 0;
  uint64_t sent_before = stats_.guild_messages;
  size_t i = 0;
  for (; i < active_guilds_.size(); ++i) {
    if (stats_.guild_messages - sent_before >= settings_.messages_per_tick) break;
    uint64_t gid = active_guilds_[i];
    auto it = guilds_.find(gid);
    if (it == guilds_.end()) continue;
    Guild& g = it->second;
    double burst = settings_.guild_burst;
    g.tokens = std::min(
        burst, g.tokens + settings_.guild_rate * static_cast<double>(now - g.refill_ms) / 1000.0);
    g.refill_ms = now;
    size_t n = std::min(static_cast<size_t>(std::floor(g.tokens)), g.order.size());
    std::vector<proto::PresenceRecord> batch;
    for (size_t k = 0; k < n; ++k) {
      uint64_t user_id = g.order.front();
      g.order.pop_front();
      auto p = g.pending.find(user_id);
      if (p == g.pending.end()) continue;
      batch.push_back(std::move(p->second));
      g.pending.erase(p);
      if (batch.size() >= settings_.batch_max) {
        stats_.guild_records += batch.size();
        ++stats_.guild_messages;
        sink.guild_update(gid, std::move(batch));
        batch.clear();
      }
    }
    if (!batch.empty()) {
      stats_.guild_records += batch.size();
      ++stats_.guild_messages;
      sink.guild_update(gid, std::move(batch));
    }
    g.tokens -= static_cast<double>(n);
    if (!g.order.empty()) {
      active_guilds_[keep++] = gid;
      continue;
    }
    g.active = false;
    if (g.refs == 0) guilds_.erase(it);
  }
  // Out of budget: the guilds not reached go first next tick, then those still pending.
  std::vector<uint64_t> next(active_guilds_.begin() + static_cast<std::ptrdiff_t>(i),
                             active_guilds_.end());
  next.insert(next.end(), active_guilds_.begin(),
              active_guilds_.begin() + static_cast<std::ptrdiff_t>(keep));
  active_guilds_.swap(next);
}

// ---- queries ---------------------------------------------------------------------------

proto::PresenceRecord PresenceState::presence_of(uint64_t user_id) const {
  auto it = users_.find(user_id);
  if (it != users_.end() && it->second.current.user_id) return it->second.current;
  proto::PresenceRecord r;
  r.user_id = user_id;
  if (auto o = offline_since_.find(user_id); o != offline_since_.end()) r.since_ms = o->second;
  return r;
}

bool PresenceState::guild_presences(uint64_t guild_id,
                                    std::vector<proto::PresenceRecord>& out) const {
  auto it = guilds_.find(guild_id);
  if (it == guilds_.end()) return true;  // nobody of it is online
  if (is_large(it->second)) return false;
  for (uint64_t user_id : it->second.shown) out.push_back(presence_of(user_id));
  return true;
}

void PresenceState::guild_online(uint64_t guild_id, std::vector<proto::PresenceRecord>& out,
                                 uint32_t& members) const {
  members = 0;
  auto it = guilds_.find(guild_id);
  if (it == guilds_.end()) return;
  members = it->second.members;
  for (uint64_t user_id : it->second.shown) out.push_back(presence_of(user_id));
}

size_t PresenceState::pending_records() const {
  size_t n = 0;
  for (uint64_t gid : active_guilds_)
    if (auto it = guilds_.find(gid); it != guilds_.end()) n += it->second.pending.size();
  return n;
}

}  // namespace chat::presenced
