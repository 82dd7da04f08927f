// The operator's figures of the store as one JSON text (admin op `stats`, store op
// `stats`; the fields are listed in lib/chat/proto/admin_ops.hpp).
//
// For the whole store: the message count is RocksDB's estimate (deleted keys count until
// compaction drops them; an exact count would read every key); buckets are counted exactly
// by seeking from one (channel, bucket) to the next, one seek per bucket; bytes on disk
// from the live-SST and memtable properties plus the WAL files; SST files and bytes per
// level; pending compaction bytes; the block cache hit rate and the write stall figures
// from the statistics tickers and the cfstats map; what retention removed (meta counters).
// For one channel: an exact scan of its range (count per bucket), its approximate size
// and its effective retention.
//
// Reads only (thread-safe): stored computes it on its background worker.
#pragma once

#include <cstdint>
#include <string>

#include "chat/store/engine.hpp"

namespace chat::store {

std::string stats_json(Engine& engine, uint64_t channel_id);

// Live SST bytes plus memtable bytes of every column family: the store's size for
// `compact` before and after.
uint64_t live_bytes(Engine& engine);

}  // namespace chat::store
