// The operator's maintenance of the store: compaction on demand and checkpoints (admin ops
// `compact` and `backup`, lib/chat/proto/admin_ops.hpp).
//
// compact runs CompactRange over the whole of every column family, or over one channel's
// key range of the messages column family, down to and including the bottommost level
// (kForceOptimized), which is where tombstones and range tombstones finally drop the data
// they cover. It reports the bytes before and after: live SST bytes (after a flush) for the whole
// store, RocksDB's approximate size of the range for one channel.
//
// backup makes a RocksDB checkpoint: a consistent copy of every column family as of one
// moment, table files hard-linked when on the same file system, in <backups_dir>/<name>.
// The name must be [A-Za-z0-9._-]{1,64} and not "." or "..": no path can be escaped and no
// existing backup is overwritten (already_exists).
//
// Both can take long and only call thread-safe RocksDB functions: stored runs them on its
// background worker. Engine::cancel_manual_compactions() makes a running compact return
// (busy) at shutdown.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "chat/store/engine.hpp"

namespace chat::store {

struct CompactResult {
  uint64_t before_bytes = 0;
  uint64_t after_bytes = 0;
  double seconds = 0;
};
Status compact(Engine& engine, uint64_t channel_id, CompactResult& result);

bool valid_backup_name(std::string_view name);
// Creates <backups_dir>/<name>; `path` is set to it on success.
Status backup(Engine& engine, const std::string& backups_dir, const std::string& name,
              std::string& path);

}  // namespace chat::store
