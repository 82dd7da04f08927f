// The edge where our msgpack records become Discord v10 JSON objects (DISCORD_COMPAT.md
// §1.10, §1.11, §2.3): users, guilds, channels, members, messages, and the GUILD_CREATE
// and application objects built from them. Every id is a JSON string; every timestamp is
// ISO 8601 with an explicit +00:00 offset, taken from the snowflake when the record has no
// time of its own. Each object carries every key discord.py reads unconditionally, so
// libraries never meet a KeyError; keys we have no data for are present and null/empty.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/proto/model.hpp"

namespace chat::proto {

using Json = nlohmann::json;

// "123" for an id, JSON null for 0 (an absent optional id).
Json id_or_null(uint64_t id);
std::string id_string(uint64_t id);
// ISO 8601 time at which a snowflake id was made.
std::string snowflake_time(uint64_t id);

// A user object: id, username, discriminator "0", global_name, avatar, bot, flags, ...
// `self` adds the /users/@me keys (verified, mfa_enabled, locale, email).
Json user_json(uint64_t id, const std::string& name, bool bot, bool self = false);
inline Json user_json(const User& u, bool self = false) {
  return user_json(u.id, u.name, u.bot, self);
}

// A guild member with its nested user (with_user) or without (MESSAGE_CREATE's `member`).
Json member_json(const Member& m, bool with_user = true);

// The permission bits @everyone has in every guild (a string, as Discord sends it).
const char* everyone_permissions();
// The @everyone role of a guild: id == guild id.
Json everyone_role(uint64_t guild_id);

// A channel object: guild text/voice/category with name, position, topic, ...; DMs with
// recipients (user objects; names from `users` when known).
Json channel_json(const Channel& c, const std::vector<User>& users = {});

// A guild object (GET /guilds/{g}, GUILD_UPDATE): every top-level key of Discord's guild.
Json guild_json(const Guild& g);
// A partial guild for GET /users/@me/guilds.
Json partial_guild_json(const Guild& g, uint64_t viewer_id);

// IDENTIFY's large_threshold: the bounds (a value outside is clamped to them, as Discord
// does) and the default.
inline constexpr uint32_t kLargeThresholdMin = 50;
inline constexpr uint32_t kLargeThresholdMax = 250;
inline constexpr uint32_t kLargeThresholdDefault = 50;

// The GUILD_CREATE payload for a guild the viewer is in: the guild plus joined_at, large,
// unavailable, member_count, channels, members, and the empty lists libraries expect.
// `channels` and `members` may hold other guilds' records; only this guild's are used.
// member_count is g.member_count, or the number of this guild's members given when that
// is 0. A guild with more members than `large_threshold` is sent as Discord sends a large
// one: `large` true and `members` holding only the viewer's own member (the client asks
// for the rest with op 8); any other lists every member given.
Json guild_create_json(const Guild& g, const std::vector<Channel>& channels,
                       const std::vector<Member>& members, uint64_t viewer_id,
                       uint32_t large_threshold = kLargeThresholdMax);

struct MessageJsonOptions {
  // Blank content (and keep embeds/attachments empty) as Discord does for a session
  // without the MESSAGE_CONTENT intent.
  bool strip_content = false;
  // Add the gateway extras: guild_id, member (partial, for guild messages), channel_type.
  bool gateway_extras = true;
};
// A full message object with every key discord.py requires (§1.11).
Json message_json(const Message& m, const MessageJsonOptions& options = {});

// GET /oauth2/applications/@me for a bot user (the application id is the user id).
Json application_json(const User& u);

}  // namespace chat::proto
