// The directory-change event: how guildd instances that split the shards keep one
// directory. Every guildd holds the whole directory (users, tokens, guilds, channels,
// members) in memory; each directory write is made durable by one of them (dir.put /
// dir.del on chat.store.0) and then published here, so the others apply the same records.
//
//   chat.dir.changed     DirChanged                           guildd -> every guildd
//
// `puts` are (key, value) records exactly as persisted (dir_keys.hpp); `dels` are keys
// removed. `origin` names the publishing instance (random per process) so it can skip
// its own events. Events are best-effort and in order per publisher: NATS keeps one
// connection's messages in order; there is no replay. An instance that starts loads the
// directory from stored after its subscription is live, so nothing falls in between.
#pragma once

#include <string>
#include <vector>

#include "chat/proto/model.hpp"
#include "chat/proto/ops.hpp"

namespace chat::proto {

struct DirChanged {
  int v = kSchemaVersion;
  std::string origin;             // the publishing guildd instance
  std::vector<DirEntry> puts;     // records written (key, value)
  std::vector<std::string> dels;  // keys deleted
  MSGPACK_DEFINE_MAP(v, origin, puts, dels)
};

}  // namespace chat::proto
