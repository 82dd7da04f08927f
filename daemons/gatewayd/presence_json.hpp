// The edge between Discord's presence JSON and presenced's records (DISCORD_COMPAT.md
// §1.12): a client's presence (IDENTIFY's `presence`, op 3's `d`) checked and turned
// into a SessionPresence, IDENTIFY's properties turned into a client type, and a
// PresenceRecord turned into PRESENCE_UPDATE's `d` or a GUILD_CREATE / GUILD_MEMBERS_CHUNK
// presence. Pure functions; the unit tests include this file's source directly.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/proto/presence_ops.hpp"

namespace chat::gateway {

// Client-settable statuses.
bool valid_status(const std::string& s);

// Reads status, since, afk and activities (or the legacy `game`) from `d` into `out`. A
// null or missing status leaves out.status alone. False, with `why`, on a wrong type, an
// unknown status, more than 5 activities or an oversized field.
bool parse_presence(const nlohmann::json& d, proto::SessionPresence& out, std::string& why);

// "desktop", "mobile" or "web" from IDENTIFY's `properties` ({os, browser, device}, or the
// old $os/$browser/$device keys), as Discord tells clients apart: its desktop app says
// browser "Discord Client", its phone apps "Discord Android"/"Discord iOS" (or os
// android/ios); everything else, bots included, is web.
std::string client_type(const nlohmann::json& properties);

// {user:{id}, status, activities, client_status} (a guild's presence list entry), plus
// guild_id when non-zero (PRESENCE_UPDATE's d).
nlohmann::json presence_json(const proto::PresenceRecord& r, uint64_t guild_id = 0);

}  // namespace chat::gateway
