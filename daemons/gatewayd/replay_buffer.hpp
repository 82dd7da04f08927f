// A session's replay buffer for RESUME: the recent dispatch frames (shared with every other
// session that got them) with the sequence number each was sent with. Bounded by count;
// entries the client has acknowledged through a heartbeat's `d` are dropped, so an idle
// session holds nothing (the storage is freed when it empties). Header-only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>

#include "dispatch_frame.hpp"

namespace chat::gateway {

class ReplayBuffer {
 public:
  static constexpr size_t kCapacity = 1024;
  struct Entry {
    FramePtr frame;
    uint32_t seq;
  };

  void push(FramePtr frame, uint32_t seq) {
    if (!entries_) entries_ = std::make_unique<std::deque<Entry>>();
    if (entries_->size() >= kCapacity) {
      floor_ = entries_->front().seq;
      entries_->pop_front();
    }
    entries_->push_back({std::move(frame), seq});
  }
  // The client has everything up to `seq`: forget it.
  void ack(uint32_t seq) {
    if (!entries_) return;
    while (!entries_->empty() && entries_->front().seq <= seq) {
      floor_ = entries_->front().seq;
      entries_->pop_front();
    }
    if (entries_->empty()) entries_.reset();
  }
  // Whether a client that last saw `after` can be brought up to date from here: nothing
  // it lacks was dropped, and it does not claim more than was sent (`last` is the
  // session's latest sequence number).
  bool covers(uint32_t after, uint32_t last) const { return after >= floor_ && after <= last; }
  // Calls fn(entry) for every entry with seq > after, in order.
  template <typename Fn>
  void for_each_after(uint32_t after, Fn&& fn) const {
    if (!entries_) return;
    for (const Entry& e : *entries_)
      if (e.seq > after) fn(e);
  }
  size_t size() const { return entries_ ? entries_->size() : 0; }

 private:
  std::unique_ptr<std::deque<Entry>> entries_;
  uint32_t floor_ = 0;  // highest seq no longer held
};

}  // namespace chat::gateway
