// Builds the Discord JSON objects from our records. The key lists follow DISCORD_COMPAT.md
// (what discord.py 2.2.2 and discord.js 14 read); see the header for the rules.
#include "chat/proto/discord_json.hpp"

#include <algorithm>

#include "chat/proto/snowflake.hpp"

namespace chat::proto {

Json id_or_null(uint64_t id) {
  return id ? Json(std::to_string(id)) : Json(nullptr);
}

std::string id_string(uint64_t id) {
  return std::to_string(id);
}

std::string snowflake_time(uint64_t id) {
  return iso8601_from_ms(snowflake_unix_ms(id));
}

Json user_json(uint64_t id, const std::string& name, bool bot, bool self) {
  Json u = {
      {"id", id_string(id)},    {"username", name},  {"discriminator", "0"},
      {"global_name", nullptr}, {"avatar", nullptr}, {"bot", bot},
      {"system", false},        {"banner", nullptr}, {"accent_color", nullptr},
      {"public_flags", 0},      {"flags", 0},
  };
  if (self) {
    u["verified"] = true;
    u["mfa_enabled"] = false;
    u["locale"] = "en-US";
    u["email"] = nullptr;
    u["premium_type"] = 0;
  }
  return u;
}

Json member_json(const Member& m, bool with_user) {
  Json j = {
      {"nick", m.nick.empty() ? Json(nullptr) : Json(m.nick)},
      {"avatar", nullptr},
      {"roles", Json::array()},
      {"joined_at", iso8601_from_ms(m.joined_ms ? m.joined_ms : snowflake_unix_ms(m.guild_id))},
      {"premium_since", nullptr},
      {"deaf", false},
      {"mute", false},
      {"flags", 0},
      {"pending", false},
      {"communication_disabled_until", nullptr},
  };
  if (with_user) j["user"] = user_json(m.user_id, m.user_name, m.user_bot);
  return j;
}

const char* everyone_permissions() {
  // CREATE_INSTANT_INVITE, ADD_REACTIONS, STREAM, VIEW_CHANNEL, SEND_MESSAGES,
  // EMBED_LINKS, ATTACH_FILES, READ_MESSAGE_HISTORY, MENTION_EVERYONE,
  // USE_EXTERNAL_EMOJIS, CONNECT, SPEAK, USE_VAD, CHANGE_NICKNAME, USE_APPLICATION_COMMANDS,
  // SEND_MESSAGES_IN_THREADS.
  static const std::string bits = std::to_string(
      (1ULL << 0) | (1ULL << 6) | (1ULL << 9) | (1ULL << 10) | (1ULL << 11) | (1ULL << 14) |
      (1ULL << 15) | (1ULL << 16) | (1ULL << 17) | (1ULL << 18) | (1ULL << 20) | (1ULL << 21) |
      (1ULL << 25) | (1ULL << 26) | (1ULL << 31) | (1ULL << 38));
  return bits.c_str();
}

Json everyone_role(uint64_t guild_id) {
  return {
      {"id", id_string(guild_id)},
      {"name", "@everyone"},
      {"permissions", everyone_permissions()},
      {"position", 0},
      {"color", 0},
      {"hoist", false},
      {"managed", false},
      {"mentionable", false},
      {"icon", nullptr},
      {"unicode_emoji", nullptr},
      {"flags", 0},
  };
}

Json channel_json(const Channel& c, const std::vector<User>& users) {
  Json j = {
      {"id", id_string(c.id)},
      {"type", c.type},
      {"last_message_id", nullptr},
      {"flags", 0},
  };
  if (c.type == kDm) {
    Json recipients = Json::array();
    for (uint64_t uid : c.recipients) {
      std::string name;
      bool bot = false;
      for (const User& u : users)
        if (u.id == uid) name = u.name, bot = u.bot;
      recipients.push_back(user_json(uid, name, bot));
    }
    j["recipients"] = std::move(recipients);
    return j;
  }
  j["guild_id"] = id_string(c.guild_id);
  j["name"] = c.name;
  j["position"] = c.position;
  j["permission_overwrites"] = Json::array();
  j["nsfw"] = false;
  j["parent_id"] = id_or_null(c.parent_id);
  if (c.type == kGuildVoice) {
    j["bitrate"] = 64000;
    j["user_limit"] = 0;
    j["rtc_region"] = nullptr;
  } else if (c.type != kGuildCategory) {
    j["topic"] = c.topic.empty() ? Json(nullptr) : Json(c.topic);
    j["rate_limit_per_user"] = 0;
  }
  return j;
}

Json guild_json(const Guild& g) {
  return {
      {"id", id_string(g.id)},
      {"name", g.name},
      {"icon", nullptr},
      {"icon_hash", nullptr},
      {"splash", nullptr},
      {"discovery_splash", nullptr},
      {"owner_id", id_string(g.owner_id)},
      {"afk_channel_id", nullptr},
      {"afk_timeout", 300},
      {"widget_enabled", false},
      {"verification_level", 0},
      {"default_message_notifications", 0},
      {"explicit_content_filter", 0},
      {"roles", Json::array({everyone_role(g.id)})},
      {"emojis", Json::array()},
      {"stickers", Json::array()},
      {"features", Json::array()},
      {"mfa_level", 0},
      {"application_id", nullptr},
      {"system_channel_id", nullptr},
      {"system_channel_flags", 0},
      {"rules_channel_id", nullptr},
      {"public_updates_channel_id", nullptr},
      {"safety_alerts_channel_id", nullptr},
      {"max_members", 500000},
      {"vanity_url_code", nullptr},
      {"description", nullptr},
      {"banner", nullptr},
      {"premium_tier", 0},
      {"premium_subscription_count", 0},
      {"preferred_locale", "en-US"},
      {"nsfw_level", 0},
      {"premium_progress_bar_enabled", false},
  };
}

Json partial_guild_json(const Guild& g, uint64_t viewer_id) {
  bool owner = viewer_id != 0 && g.owner_id == viewer_id;
  return {
      {"id", id_string(g.id)},
      {"name", g.name},
      {"icon", nullptr},
      {"banner", nullptr},
      {"owner", owner},
      {"permissions", owner ? "2251799813685247" : everyone_permissions()},
      {"features", Json::array()},
  };
}

Json guild_create_json(const Guild& g, const std::vector<Channel>& channels,
                       const std::vector<Member>& members, uint64_t viewer_id,
                       uint32_t large_threshold) {
  Json j = guild_json(g);
  Json chans = Json::array();
  for (const Channel& c : channels)
    if (c.guild_id == g.id) chans.push_back(channel_json(c));
  uint64_t count = g.member_count;
  if (count == 0)
    count = static_cast<uint64_t>(std::count_if(
        members.begin(), members.end(), [&](const Member& m) { return m.guild_id == g.id; }));
  bool large = count > large_threshold;
  Json mems = Json::array();
  uint64_t joined_ms = 0;
  for (const Member& m : members) {
    if (m.guild_id != g.id) continue;
    bool own = m.user_id == viewer_id;
    if (own) joined_ms = m.joined_ms;
    if (own || !large) mems.push_back(member_json(m));
  }
  j["joined_at"] = iso8601_from_ms(joined_ms ? joined_ms : snowflake_unix_ms(g.id));
  j["large"] = large;
  j["unavailable"] = false;
  j["member_count"] = count;
  j["channels"] = std::move(chans);
  j["members"] = std::move(mems);
  j["voice_states"] = Json::array();
  j["presences"] = Json::array();
  j["threads"] = Json::array();
  j["stage_instances"] = Json::array();
  j["guild_scheduled_events"] = Json::array();
  j["soundboard_sounds"] = Json::array();
  j["embedded_activities"] = Json::array();
  return j;
}

Json message_json(const Message& m, const MessageJsonOptions& options) {
  Json mentions = Json::array();
  for (uint64_t uid : m.mentions) {
    // We know only the author's name; others are named by id until a lookup exists.
    bool is_author = uid == m.author_id;
    mentions.push_back(
        user_json(uid, is_author ? m.author_name : std::string(), is_author && m.author_bot));
  }
  Json j = {
      {"id", id_string(m.id)},
      {"channel_id", id_string(m.channel_id)},
      {"author", user_json(m.author_id, m.author_name, m.author_bot)},
      {"content", options.strip_content ? std::string() : m.content},
      {"timestamp", snowflake_time(m.id)},
      {"edited_timestamp", m.edited_ms ? Json(iso8601_from_ms(m.edited_ms)) : Json(nullptr)},
      {"tts", m.tts},
      {"mention_everyone", false},
      {"mentions", std::move(mentions)},
      {"mention_roles", Json::array()},
      {"mention_channels", Json::array()},
      {"attachments", Json::array()},
      {"embeds", Json::array()},
      {"components", Json::array()},
      {"reactions", Json::array()},
      {"sticker_items", Json::array()},
      {"pinned", false},
      {"type", m.type},
      {"flags", 0},
  };
  if (!m.nonce.empty()) j["nonce"] = m.nonce;
  if (m.ref_message_id) {
    Json ref = {{"message_id", id_string(m.ref_message_id)},
                {"channel_id", id_string(m.ref_channel_id ? m.ref_channel_id : m.channel_id)}};
    uint64_t ref_guild = m.ref_guild_id ? m.ref_guild_id : m.guild_id;
    if (ref_guild) ref["guild_id"] = id_string(ref_guild);
    j["message_reference"] = std::move(ref);
  }
  if (options.gateway_extras) {
    if (m.guild_id) {
      j["guild_id"] = id_string(m.guild_id);
      j["member"] = {{"roles", Json::array()}, {"deaf", false},
                     {"mute", false},          {"flags", 0},
                     {"pending", false},       {"nick", nullptr},
                     {"avatar", nullptr},      {"premium_since", nullptr}};
      j["channel_type"] = kGuildText;
    } else {
      j["channel_type"] = kDm;
    }
  }
  return j;
}

Json application_json(const User& u) {
  return {
      {"id", id_string(u.id)}, {"name", u.name},
      {"icon", nullptr},       {"description", ""},
      {"summary", ""},         {"rpc_origins", Json::array()},
      {"bot_public", true},    {"bot_require_code_grant", false},
      {"verify_key", ""},      {"owner", user_json(u.id, u.name, u.bot)},
      {"team", nullptr},       {"flags", 0},
      {"tags", Json::array()},
  };
}

}  // namespace chat::proto
