// See dataset.hpp.
#include "dataset.hpp"

#include <algorithm>
#include <random>

#include "chat/proto/snowflake.hpp"

namespace chat::bench {
namespace {

const char* const kWords[] = {
    "the",     "deploy",   "is",      "done",   "can",     "someone",  "check",   "logs",
    "on",      "staging",  "lgtm",    "merged", "thanks",  "I",        "think",   "we",
    "should",  "move",     "this",    "to",     "a",       "thread",   "meeting", "at",
    "three",   "coffee",   "anyone",  "build",  "failed",  "again",    "flaky",   "test",
    "restart", "the",      "runner",  "lunch",  "today",   "ok",       "sounds",  "good",
    "see",     "PR",       "review",  "please", "ticket",  "bug",      "fixed",   "in",
    "latest",  "release",  "notes",   "backup", "disk",    "full",     "rotate",  "keys",
    "who",     "owns",     "pager",   "alert",  "cleared", "weekend",  "plans",   "nice",
    "haha",    "yes",      "no",      "maybe",  "later",   "tomorrow", "morning", "ship",
    "it",      "rollback", "metrics", "look",   "fine",    "latency",  "p99",     "up",
};
constexpr size_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Dataset::Dataset(const DatasetOptions& o) : o_(o) {
  const uint64_t n = o.messages;
  const uint64_t hot = o.hot ? std::min(o.hot, n) : n / 10;
  slot_.reserve(n);
  slot_.insert(slot_.end(), hot, 0);
  uint32_t slot = 1;
  for (uint64_t size : {10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL}) {
    if (size * 20 > n || slot_.size() + size > n) continue;
    ladder_.push_back({kChannelBase + slot, size});
    slot_.insert(slot_.end(), size, slot);
    ++slot;
  }
  first_ordinary_ = slot;
  ordinary_ = std::max<uint64_t>(o.channels, 1);
  std::mt19937_64 rng(o.seed);
  while (slot_.size() < n)
    slot_.push_back(first_ordinary_ + static_cast<uint32_t>(rng() % ordinary_));
  std::shuffle(slot_.begin(), slot_.end(), rng);
  for (uint64_t k = 0; k < n; ++k)
    if (slot_[k] == 0) hot_ids_.push_back(message_id(k));
}

uint64_t Dataset::message_id(uint64_t k) const {
  const uint64_t n = std::max<uint64_t>(slot_.size(), 1);
  uint64_t ms = o_.start_ms + static_cast<uint64_t>((static_cast<double>(k) / n) * o_.span_ms);
  return snowflake_floor(ms) | (k & 0xFFF);
}

proto::Message Dataset::message(uint64_t k) const {
  proto::Message m;
  m.id = message_id(k);
  m.channel_id = channel_id(k);
  m.guild_id = 500 + slot_[k] % 50;
  uint64_t r = mix(o_.seed ^ (k * 0x100000001b3ULL));
  m.author_id = 9000 + r % 300;
  m.author_name = "user" + std::to_string(m.author_id);
  size_t words = 8 + (r >> 16) % 13;
  for (size_t w = 0; w < words; ++w) {
    r = mix(r);
    if (w) m.content.push_back(' ');
    m.content += kWords[r % kWordCount];
  }
  return m;
}

}  // namespace chat::bench
