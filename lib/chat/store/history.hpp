// History pages of one channel (ARCHITECTURE.md "Storage", PROTOCOL.md "REST"): seeks and
// scans inside the channel's key range, always answered newest first.
//
//   no cursor   the latest `limit` messages (SeekForPrev to the end of the range, then back)
//   before X    the `limit` newest messages with id < X
//   after X     the `limit` oldest messages with id > X
//   around X    up to limit/2 (at least 1) messages with id >= X, X itself first among them
//               when it exists, plus the rest of `limit` older than X, as Discord does
//
// The scans cross bucket boundaries and skip empty buckets on their own: the key order is
// id order across buckets, so a channel whose messages are years apart pages like any other.
#pragma once

#include <cstdint>
#include <vector>

#include "chat/proto/model.hpp"
#include "chat/store/engine.hpp"

namespace chat::store {

inline constexpr int kMaxPageLimit = 100;

struct PageQuery {
  uint64_t channel_id = 0;
  uint64_t before = 0, after = 0, around = 0;  // at most one is set; 0 = not set
  int limit = 50;                              // 1..kMaxPageLimit
};

// Fills `out` newest first. bad_request for channel 0, a limit out of range or more than
// one cursor; io_error when RocksDB fails. Values that do not decode are logged and skipped.
Status page_messages(Engine& engine, const PageQuery& query, std::vector<proto::Message>& out);

}  // namespace chat::store
