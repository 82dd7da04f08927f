// The benchmark's data set: which channel each message goes to, its id and its content,
// all derived from a seed, so that the stored run and the plain RocksDB run put exactly
// the same bytes under exactly the same keys.
//
// Channels: one hot channel (`hot` messages), a ladder of channels with 10, 100, 1,000,
// 10,000 and 100,000 messages (those below a twentieth of the total), and `channels`
// ordinary channels sharing the rest at random. Message k of n is stamped
// start + k * span / n (one year by default), so buckets fill as they would with a year of
// chat, and ids are snowflakes of those times.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chat/proto/model.hpp"

namespace chat::bench {

struct DatasetOptions {
  uint64_t messages = 10000000;
  uint64_t channels = 10000;
  uint64_t hot = 0;  // 0 = messages / 10
  uint64_t seed = 42;
  uint64_t start_ms = 1735689600000ULL;  // 2025-01-01
  uint64_t span_ms = 365ULL * 86400000ULL;
};

class Dataset {
 public:
  explicit Dataset(const DatasetOptions& o);

  uint64_t size() const { return slot_.size(); }
  uint64_t channel_id(uint64_t k) const { return kChannelBase + slot_[k]; }
  uint64_t message_id(uint64_t k) const;
  // The message as guildd would hand it to stored (content of 8-20 words).
  proto::Message message(uint64_t k) const;

  uint64_t hot_channel() const { return kChannelBase; }
  // (channel, size) of the ladder channels, smallest first.
  const std::vector<std::pair<uint64_t, uint64_t>>& ladder() const { return ladder_; }
  uint64_t ordinary_channel(uint64_t i) const { return kChannelBase + first_ordinary_ + i; }
  uint64_t ordinary_channels() const { return ordinary_; }
  // Ids of the hot channel, ascending (for deep `before` pages).
  const std::vector<uint64_t>& hot_ids() const { return hot_ids_; }

 private:
  static constexpr uint64_t kChannelBase = 1000000;
  DatasetOptions o_;
  std::vector<uint32_t> slot_;  // channel slot of message k: 0 hot, then ladder, then ordinary
  std::vector<std::pair<uint64_t, uint64_t>> ladder_;
  uint32_t first_ordinary_ = 1;
  uint64_t ordinary_ = 0;
  std::vector<uint64_t> hot_ids_;
};

}  // namespace chat::bench
