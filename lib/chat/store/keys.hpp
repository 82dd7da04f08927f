// Key encoding of stored's column families (ARCHITECTURE.md "Storage").
//
// A message lives under channel_id (8) | bucket (4) | message_id (8), every integer
// big-endian so that RocksDB's bytewise order is numeric order: all of a channel's
// messages are one contiguous range, ordered by bucket and then by id. Because the bucket
// is a monotonic function of the id (the snowflake's time divided by bucket_ms), that order
// is plain id order, so history pages are seeks and scans inside the channel's range.
// The first 12 bytes (channel | bucket) are the prefix the messages column family's bloom
// filters are built on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace chat::store {

inline constexpr size_t kMessageKeySize = 20;
inline constexpr size_t kBucketPrefixSize = 12;  // channel | bucket
inline constexpr uint64_t kMsPerDay = 86400000ULL;

// Big-endian helpers: append to `out`, read from the first bytes of `in` (caller checks size).
void put_be32(std::string& out, uint32_t v);
void put_be64(std::string& out, uint64_t v);
uint32_t get_be32(std::string_view in);
uint64_t get_be64(std::string_view in);

// The bucket a message id falls into: ((id >> 22) + discord_epoch_ms) / bucket_ms.
uint32_t bucket_of(uint64_t message_id, uint64_t bucket_ms);

// The key of one message, with its bucket computed from the id or given.
std::string message_key(uint64_t channel_id, uint64_t message_id, uint64_t bucket_ms);
std::string message_key_at(uint64_t channel_id, uint32_t bucket, uint64_t message_id);

// Bounds of a channel's range: every key k of the channel has begin <= k < end.
// end is the next channel's 8-byte prefix (or a key past the very last one for the
// largest channel id), so it is a valid exclusive iterate_upper_bound.
std::string channel_begin(uint64_t channel_id);
std::string channel_end(uint64_t channel_id);
// The greatest key a message of the channel can have: channel | 0xFFFFFFFF | 0xFF..FF,
// the target of SeekForPrev for the latest page.
std::string channel_last(uint64_t channel_id);

struct MessageKey {
  uint64_t channel_id = 0;
  uint32_t bucket = 0;
  uint64_t message_id = 0;
};
// False when `key` is not a 20-byte message key.
bool decode_message_key(std::string_view key, MessageKey& out);

// The smallest string greater than every string starting with `prefix` (for scans of
// the directory by prefix); empty when no such bound exists (prefix empty or all 0xFF).
std::string prefix_successor(std::string_view prefix);

}  // namespace chat::store
