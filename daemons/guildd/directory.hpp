// The in-memory directory: users, token digests, guilds, channels (DMs included) and
// members, with the indexes reads need (name -> user, digest -> user, guild -> channels,
// guild -> members, user -> guilds, user pair -> DM). It is a copy of what stored holds:
// loaded once at startup from dir.scan, and changed only after stored confirmed the write
// (the service sequences that). Owned by the loop thread; no locks.
//
// The entry_*() functions turn records into the (key, value) pairs persisted; load()
// reads them back. Together with dir_keys.hpp they are the persistence encoding.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chat/proto/model.hpp"
#include "chat/proto/ops.hpp"

namespace chat::guildd {

class Directory {
 public:
  // Startup: one stored record. False (with `error`) for an undecodable one, which the
  // caller logs and skips.
  bool load(const proto::DirEntry& entry, std::string& error);
  // The opposite of load(), for a key another guildd deleted (chat.dir.changed): drops
  // the record the key names (a guild with its channels and members). False (with
  // `error`) for a key of unknown shape; a key already absent is fine.
  bool remove(const std::string& key, std::string& error);

  // Reads. Pointers stay valid until the next mutation.
  const proto::User* user(uint64_t id) const;
  const proto::User* user_by_name(std::string_view name) const;
  const proto::User* user_by_token_digest(std::string_view digest) const;
  const std::string* token_digest(uint64_t user_id) const;
  const proto::User* first_admin() const;         // lowest id among admins
  std::vector<const proto::User*> users() const;  // by id

  const proto::Guild* guild(uint64_t id) const;
  std::vector<const proto::Guild*> guilds() const;  // by id
  std::vector<const proto::Guild*> guilds_of(uint64_t user_id) const;

  const proto::Channel* channel(uint64_t id) const;
  std::vector<const proto::Channel*> channels_of(uint64_t guild_id) const;  // position, id
  uint64_t dm_between(uint64_t a, uint64_t b) const;                        // 0 when none

  const proto::Member* member(uint64_t guild_id, uint64_t user_id) const;
  // Members by user id, those with user id > after, at most `limit` (0 = all).
  std::vector<const proto::Member*> members_of(uint64_t guild_id, uint64_t after = 0,
                                               size_t limit = 0) const;
  size_t member_count(uint64_t guild_id) const;

  size_t user_count() const { return users_.size(); }
  size_t guild_count() const { return guilds_.size(); }
  size_t channel_count() const { return channels_.size(); }

  // Mutations, applied once durable.
  void put_user(const proto::User& u);
  void set_token_digest(uint64_t user_id, const std::string& digest);
  void clear_token(uint64_t user_id);
  void put_guild(const proto::Guild& g);
  void erase_guild(uint64_t guild_id);  // with its channels and members
  void put_channel(const proto::Channel& c);
  void erase_channel(uint64_t channel_id);
  void put_member(const proto::Member& m);
  void erase_member(uint64_t guild_id, uint64_t user_id);

  // Persistence encoding.
  static proto::DirEntry entry_for(const proto::User& u);
  static proto::DirEntry entry_for_token(uint64_t user_id, const std::string& digest);
  static proto::DirEntry entry_for(const proto::Guild& g);
  static proto::DirEntry entry_for(const proto::Channel& c);
  static proto::DirEntry entry_for(const proto::Member& m);
  // Every key a guild deletion removes: the guild, its channels, its members.
  std::vector<std::string> keys_of_guild(uint64_t guild_id) const;

 private:
  static std::pair<uint64_t, uint64_t> dm_pair(uint64_t a, uint64_t b) {
    return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
  }

  std::map<uint64_t, proto::User> users_;
  std::unordered_map<std::string, uint64_t> user_by_name_;
  std::unordered_map<uint64_t, std::string> token_of_;   // user -> digest
  std::unordered_map<std::string, uint64_t> by_digest_;  // digest -> user
  std::map<uint64_t, proto::Guild> guilds_;
  std::unordered_map<uint64_t, proto::Channel> channels_;
  std::unordered_map<uint64_t, std::set<uint64_t>> guild_channels_;
  std::unordered_map<uint64_t, std::map<uint64_t, proto::Member>> members_;
  std::unordered_map<uint64_t, std::set<uint64_t>> user_guilds_;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> dms_;
};

}  // namespace chat::guildd
