// Gateway intents (DISCORD_COMPAT.md §1.9): which bits a client may ask for, and which
// bit a dispatch needs before a session gets it. Header-only: the fan-out asks this for
// every delivery, and the unit tests include it directly.
#pragma once

#include <cstdint>
#include <string_view>

namespace chat::gateway {

namespace intent {
inline constexpr uint32_t guilds = 1u << 0;
inline constexpr uint32_t guild_members = 1u << 1;
inline constexpr uint32_t guild_presences = 1u << 8;
inline constexpr uint32_t guild_messages = 1u << 9;
inline constexpr uint32_t guild_message_typing = 1u << 11;
inline constexpr uint32_t direct_messages = 1u << 12;
inline constexpr uint32_t direct_message_typing = 1u << 14;
inline constexpr uint32_t message_content = 1u << 15;
// Every bit Discord defines today: 0-16, 20, 21, 24, 25. Others close with 4013.
inline constexpr uint32_t known = 0x1FFFFu | (1u << 20) | (1u << 21) | (1u << 24) | (1u << 25);
// What a client that sends no intents at all gets (lenient; Discord would refuse it).
inline constexpr uint32_t fallback = guilds | guild_messages | direct_messages | message_content;
}  // namespace intent

inline bool valid_intents(int64_t bits) {
  return bits >= 0 && bits <= 0xFFFFFFFF && (static_cast<uint32_t>(bits) & ~intent::known) == 0;
}

// The intent bit event `t` needs; `dm` when it concerns a DM channel (no guild). Zero when
// the event is sent regardless of intents.
inline uint32_t required_intent(std::string_view t, bool dm) {
  if (t.starts_with("MESSAGE_")) return dm ? intent::direct_messages : intent::guild_messages;
  if (t == "TYPING_START") return dm ? intent::direct_message_typing : intent::guild_message_typing;
  if (t == "GUILD_MEMBER_ADD" || t == "GUILD_MEMBER_REMOVE" || t == "GUILD_MEMBER_UPDATE")
    return intent::guild_members;
  if (t == "PRESENCE_UPDATE") return intent::guild_presences;
  if (t.starts_with("GUILD_") || t.starts_with("CHANNEL_") || t.starts_with("THREAD_"))
    return dm ? 0 : intent::guilds;
  return 0;
}

// Whether a session with `intents` may see message content of a message: it has
// MESSAGE_CONTENT, or the message is a DM, its own, or mentions it.
inline bool sees_content(uint32_t intents, bool dm, bool own, bool mentioned) {
  return (intents & intent::message_content) || dm || own || mentioned;
}

}  // namespace chat::gateway
