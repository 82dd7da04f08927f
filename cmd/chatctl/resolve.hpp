// Names on chatctl's command line turned into ids: a GUILD is an id or a guild name, a
// CHANNEL an id or GUILD/#name (ops/#alerts), a USER an id or a user name. A name that
// matches nothing is exit 66; one that matches several things is a usage error (64) that
// lists the ids to choose from. Names are looked up through the REST API each time
// (chatctl keeps no cache).
#pragma once

#include <string>

#include "app.hpp"

namespace chat::ctl {

struct GuildRef {
  std::string id;
  std::string name;  // may be empty when given as an id
};

struct ChannelRef {
  std::string id;
  std::string name;      // without '#'; empty when given as an id and not looked up
  std::string guild_id;  // empty when given as an id and not looked up
};

struct UserRef {
  std::string id;
  std::string name;
};

Status resolve_guild(Context& ctx, const std::string& spec, GuildRef& out);
// With `details`, a channel given as an id is fetched (GET /channels/{id}) so that its
// name and guild are known (tail needs both; send needs neither).
Status resolve_channel(Context& ctx, const std::string& spec, bool details, ChannelRef& out);
Status resolve_user(Context& ctx, const std::string& spec, UserRef& out);

}  // namespace chat::ctl
