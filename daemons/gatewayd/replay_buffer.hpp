// A session's replay buffer for RESUME: the recent dispatch frames (shared with every other
// session that got them) it was sent, oldest first. A session's sequence numbers are
// consecutive, so the buffer keeps only the frames, in one contiguous ring, and the
// sequence number of the oldest: a push is one store into the ring, no allocation (the
// ring doubles from 8 up to kCapacity entries, and is freed when it empties). Entries the
// client has acknowledged through a heartbeat's `d` are dropped, so an idle session holds
// nothing. Dispatches that are never replayed (READY and the GUILD_CREATEs that follow it:
// RESUME needs the session id READY carried) are skip()ped: they only move the floor.
// Header-only.
#pragma once

#include <cstdint>
#include <memory>

#include "dispatch_frame.hpp"

namespace chat::gateway {

class ReplayBuffer {
 public:
  static constexpr uint32_t kCapacity = 1024;  // a power of two
  // Keeps `frame`, sent with sequence number `seq`: the one after the newest held (or any
  // when empty). A gap drops what is held (nothing before it could be replayed in order).
  void push(FramePtr frame, uint32_t seq) {
    if (count_ > 0 && seq != first_seq_ + count_) clear_to(seq - 1);
    if (count_ == 0) {
      if (seq != floor_ + 1) floor_ = seq - 1;  // what came before was not kept
      first_seq_ = seq;
    }
    if (count_ == cap_) {
      if (cap_ == kCapacity) {  // full: the oldest goes
        ring_[head_].reset();
        head_ = (head_ + 1) & (cap_ - 1);
        floor_ = first_seq_++;
        --count_;
      } else {
        grow();
      }
    }
    ring_[(head_ + count_) & (cap_ - 1)] = std::move(frame);
    ++count_;
  }
  // `seq` was sent but is never replayed: a client that saw less cannot resume.
  void skip(uint32_t seq) { clear_to(seq); }
  // The client has everything up to `seq`: forget it.
  void ack(uint32_t seq) {
    while (count_ > 0 && first_seq_ <= seq) {
      ring_[head_].reset();
      head_ = (head_ + 1) & (cap_ - 1);
      floor_ = first_seq_++;
      --count_;
    }
    if (count_ == 0) release();
  }
  // Whether a client that last saw `after` can be brought up to date from here: nothing
  // it lacks was dropped, and it does not claim more than was sent (`last` is the
  // session's latest sequence number).
  bool covers(uint32_t after, uint32_t last) const { return after >= floor_ && after <= last; }
  // The frame sent with `seq`, or null when it is not held (acknowledged, or pushed out
  // by newer ones). Valid until the next push.
  const FramePtr* at(uint32_t seq) const {
    if (count_ == 0 || seq < first_seq_ || seq - first_seq_ >= count_) return nullptr;
    return &ring_[(head_ + (seq - first_seq_)) & (cap_ - 1)];
  }
  size_t size() const { return count_; }
  size_t capacity() const { return cap_; }  // ring slots allocated

 private:
  void grow() {
    uint32_t cap = cap_ ? cap_ * 2 : 8;
    auto ring = std::make_unique<FramePtr[]>(cap);
    for (uint32_t i = 0; i < count_; ++i) ring[i] = std::move(ring_[(head_ + i) & (cap_ - 1)]);
    ring_ = std::move(ring);
    cap_ = cap;
    head_ = 0;
  }
  void release() {
    ring_.reset();
    cap_ = 0;
    head_ = 0;
    count_ = 0;
  }
  // Drops everything held; `seq` becomes the floor.
  void clear_to(uint32_t seq) {
    release();
    floor_ = seq;
  }

  std::unique_ptr<FramePtr[]> ring_;
  uint32_t first_seq_ = 0;  // seq of the oldest entry held
  uint32_t floor_ = 0;      // highest seq no longer held
  uint16_t head_ = 0;       // ring index of the oldest entry
  uint16_t count_ = 0;
  uint16_t cap_ = 0;
};

}  // namespace chat::gateway
