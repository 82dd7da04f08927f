// See directory.hpp.
#include "directory.hpp"

#include <algorithm>

#include "dir_keys.hpp"

namespace chat::guildd {

bool Directory::load(const proto::DirEntry& entry, std::string& error) {
  ParsedKey k;
  if (!parse_key(entry.key, k)) {
    error = "unknown key shape";
    return false;
  }
  switch (k.kind) {
    case KeyKind::user: {
      proto::User u;
      if (!proto::unpack(entry.value, u, &error)) return false;
      put_user(u);
      return true;
    }
    case KeyKind::token:
      if (entry.value.size() != 32) {
        error = "token digest is not 32 bytes";
        return false;
      }
      set_token_digest(k.id, entry.value);
      return true;
    case KeyKind::guild: {
      proto::Guild g;
      if (!proto::unpack(entry.value, g, &error)) return false;
      put_guild(g);
      return true;
    }
    case KeyKind::channel: {
      proto::Channel c;
      if (!proto::unpack(entry.value, c, &error)) return false;
      put_channel(c);
      return true;
    }
    case KeyKind::member: {
      proto::Member m;
      if (!proto::unpack(entry.value, m, &error)) return false;
      put_member(m);
      return true;
    }
  }
  error = "unknown key kind";
  return false;
}

bool Directory::remove(const std::string& key, std::string& error) {
  ParsedKey k;
  if (!parse_key(key, k)) {
    error = "unknown key shape";
    return false;
  }
  switch (k.kind) {
    case KeyKind::user:
      if (auto it = users_.find(k.id); it != users_.end()) {
        user_by_name_.erase(it->second.name);
        users_.erase(it);
      }
      clear_token(k.id);
      return true;
    case KeyKind::token:
      clear_token(k.id);
      return true;
    case KeyKind::guild:
      erase_guild(k.id);
      return true;
    case KeyKind::channel:
      erase_channel(k.id);
      return true;
    case KeyKind::member:
      erase_member(k.id, k.second);
      return true;
  }
  error = "unknown key kind";
  return false;
}

const proto::User* Directory::user(uint64_t id) const {
  auto it = users_.find(id);
  return it == users_.end() ? nullptr : &it->second;
}

const proto::User* Directory::user_by_name(std::string_view name) const {
  auto it = user_by_name_.find(std::string(name));
  return it == user_by_name_.end() ? nullptr : user(it->second);
}

const proto::User* Directory::user_by_token_digest(std::string_view digest) const {
  auto it = by_digest_.find(std::string(digest));
  return it == by_digest_.end() ? nullptr : user(it->second);
}

const std::string* Directory::token_digest(uint64_t user_id) const {
  auto it = token_of_.find(user_id);
  return it == token_of_.end() ? nullptr : &it->second;
}

const proto::User* Directory::first_admin() const {
  for (const auto& [id, u] : users_)
    if (u.admin) return &u;
  return nullptr;
}

std::vector<const proto::User*> Directory::users() const {
  std::vector<const proto::User*> out;
  out.reserve(users_.size());
  for (const auto& [id, u] : users_) out.push_back(&u);
  return out;
}

const proto::Guild* Directory::guild(uint64_t id) const {
  auto it = guilds_.find(id);
  return it == guilds_.end() ? nullptr : &it->second;
}

std::vector<const proto::Guild*> Directory::guilds() const {
  std::vector<const proto::Guild*> out;
  for (const auto& [id, g] : guilds_) out.push_back(&g);
  return out;
}

std::vector<const proto::Guild*> Directory::guilds_of(uint64_t user_id) const {
  std::vector<const proto::Guild*> out;
  auto it = user_guilds_.find(user_id);
  if (it == user_guilds_.end()) return out;
  for (uint64_t gid : it->second)
    if (const proto::Guild* g = guild(gid)) out.push_back(g);
  return out;
}

const proto::Channel* Directory::channel(uint64_t id) const {
  auto it = channels_.find(id);
  return it == channels_.end() ? nullptr : &it->second;
}

std::vector<const proto::Channel*> Directory::channels_of(uint64_t guild_id) const {
  std::vector<const proto::Channel*> out;
  auto it = guild_channels_.find(guild_id);
  if (it == guild_channels_.end()) return out;
  for (uint64_t cid : it->second)
    if (const proto::Channel* c = channel(cid)) out.push_back(c);
  std::stable_sort(out.begin(), out.end(), [](const proto::Channel* a, const proto::Channel* b) {
    return a->position != b->position ? a->position < b->position : a->id < b->id;
  });
  return out;
}

uint64_t Directory::dm_between(uint64_t a, uint64_t b) const {
  auto it = dms_.find(dm_pair(a, b));
  return it == dms_.end() ? 0 : it->second;
}

const proto::Member* Directory::member(uint64_t guild_id, uint64_t user_id) const {
  auto g = members_.find(guild_id);
  if (g == members_.end()) return nullptr;
  auto m = g->second.find(user_id);
  return m == g->second.end() ? nullptr : &m->second;
}

std::vector<const proto::Member*> Directory::members_of(uint64_t guild_id, uint64_t after,
                                                        size_t limit) const {
  std::vector<const proto::Member*> out;
  auto g = members_.find(guild_id);
  if (g == members_.end()) return out;
  for (auto it = g->second.upper_bound(after); it != g->second.end(); ++it) {
    if (limit && out.size() >= limit) break;
    out.push_back(&it->second);
  }
  return out;
}

size_t Directory::member_count(uint64_t guild_id) const {
  auto g = members_.find(guild_id);
  return g == members_.end() ? 0 : g->second.size();
}

void Directory::put_user(const proto::User& u) {
  auto it = users_.find(u.id);
  if (it != users_.end() && it->second.name != u.name) user_by_name_.erase(it->second.name);
  users_[u.id] = u;
  user_by_name_[u.name] = u.id;
}

void Directory::set_token_digest(uint64_t user_id, const std::string& digest) {
  clear_token(user_id);
  token_of_[user_id] = digest;
  by_digest_[digest] = user_id;
}

void Directory::clear_token(uint64_t user_id) {
  auto it = token_of_.find(user_id);
  if (it == token_of_.end()) return;
  by_digest_.erase(it->second);
  token_of_.erase(it);
}

void Directory::put_guild(const proto::Guild& g) {
  guilds_[g.id] = g;
}

void Directory::erase_guild(uint64_t guild_id) {
  if (auto it = guild_channels_.find(guild_id); it != guild_channels_.end()) {
    for (uint64_t cid : it->second) channels_.erase(cid);
    guild_channels_.erase(it);
  }
  if (auto it = members_.find(guild_id); it != members_.end()) {
    for (const auto& [uid, m] : it->second) {
      auto ug = user_guilds_.find(uid);
      if (ug != user_guilds_.end()) {
        ug->second.erase(guild_id);
        if (ug->second.empty()) user_guilds_.erase(ug);
      }
    }
    members_.erase(it);
  }
  guilds_.erase(guild_id);
}

void Directory::put_channel(const proto::Channel& c) {
  channels_[c.id] = c;
  if (c.type == proto::kDm) {
    if (c.recipients.size() == 2) dms_[dm_pair(c.recipients[0], c.recipients[1])] = c.id;
  } else {
    guild_channels_[c.guild_id].insert(c.id);
  }
}

void Directory::erase_channel(uint64_t channel_id) {
  auto it = channels_.find(channel_id);
  if (it == channels_.end()) return;
  const proto::Channel& c = it->second;
  if (c.type == proto::kDm) {
    if (c.recipients.size() == 2) dms_.erase(dm_pair(c.recipients[0], c.recipients[1]));
  } else if (auto gc = guild_channels_.find(c.guild_id); gc != guild_channels_.end()) {
    gc->second.erase(channel_id);
  }
  channels_.erase(it);
}

void Directory::put_member(const proto::Member& m) {
  members_[m.guild_id][m.user_id] = m;
  user_guilds_[m.user_id].insert(m.guild_id);
}

void Directory::erase_member(uint64_t guild_id, uint64_t user_id) {
  if (auto g = members_.find(guild_id); g != members_.end()) g->second.erase(user_id);
  if (auto ug = user_guilds_.find(user_id); ug != user_guilds_.end()) {
    ug->second.erase(guild_id);
    if (ug->second.empty()) user_guilds_.erase(ug);
  }
}

proto::DirEntry Directory::entry_for(const proto::User& u) {
  return {user_key(u.id), proto::pack(u)};
}
proto::DirEntry Directory::entry_for_token(uint64_t user_id, const std::string& digest) {
  return {token_key(user_id), digest};
}
proto::DirEntry Directory::entry_for(const proto::Guild& g) {
  return {guild_key(g.id), proto::pack(g)};
}
proto::DirEntry Directory::entry_for(const proto::Channel& c) {
  return {channel_key(c.id), proto::pack(c)};
}
proto::DirEntry Directory::entry_for(const proto::Member& m) {
  return {member_key(m.guild_id, m.user_id), proto::pack(m)};
}

std::vector<std::string> Directory::keys_of_guild(uint64_t guild_id) const {
  std::vector<std::string> keys{guild_key(guild_id)};
  if (auto it = guild_channels_.find(guild_id); it != guild_channels_.end())
    for (uint64_t cid : it->second) keys.push_back(channel_key(cid));
  if (auto it = members_.find(guild_id); it != members_.end())
    for (const auto& [uid, m] : it->second) keys.push_back(member_key(guild_id, uid));
  return keys;
}

}  // namespace chat::guildd
