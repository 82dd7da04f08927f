// WriteBatch: the arena of this turn's pieces, the pending list and the end-of-turn flush
// (see write_batch.hpp). Sockets are written with sendmsg(MSG_NOSIGNAL), so a peer that
// went away costs an error code, never SIGPIPE.
#include "chat/ws/write_batch.hpp"

#include <event2/buffer.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "chat/ws/server_connection.hpp"

namespace chat::ws {
namespace {

constexpr int kIov = 64;                     // pieces per sendmsg
constexpr size_t kMaxKeptPieces = 1u << 20;  // piece slots kept between turns

}  // namespace

WriteBatch::WriteBatch(event_base* base) {
  ev_ = event_new(
      base, -1, 0,
      [](evutil_socket_t, short, void* arg) { static_cast<WriteBatch*>(arg)->flush(); }, this);
}

WriteBatch::~WriteBatch() {
  for (size_t i = 0; i < pending_.size(); ++i)
    if (ServerConnection* c = pending_[i].conn) c->detach_batch();
  if (ev_) event_free(ev_);
}

void WriteBatch::schedule() {
  if (scheduled_ || !ev_) return;
  scheduled_ = true;
  event_active(ev_, EV_WRITE, 0);
}

void WriteBatch::keep_new(std::shared_ptr<const void> owner) {
  kept_.push_back(std::move(owner));
  schedule();
}

void WriteBatch::add(ServerConnection* c) {
  c->batch_slot_ = static_cast<uint32_t>(pending_.size());
  pending_.push_back(Pending{c});
  schedule();
}

void WriteBatch::remove(ServerConnection* c) {
  if (c->batch_slot_ < pending_.size() && pending_[c->batch_slot_].conn == c)
    pending_[c->batch_slot_].conn = nullptr;
  c->batch_slot_ = ServerConnection::kNoSlot;
}

char* WriteBatch::arena(size_t len) {
  if (len > kBlock / 4) {
    big_.emplace_back(new char[len]);
    return big_.back().get();
  }
  if (block_used_ + len > kBlock) {
    if (used_blocks_ == blocks_.size()) blocks_.emplace_back(new char[kBlock]);
    ++used_blocks_;
    block_used_ = 0;
  }
  char* p = blocks_[used_blocks_ - 1].get() + block_used_;
  block_used_ += len;
  return p;
}

void WriteBatch::append(ServerConnection* c, const void* data, size_t len, bool borrowed) {
  if (len == 0) return;
  if (c->batch_slot_ == ServerConnection::kNoSlot) add(c);
  Pending& p = pending_[c->batch_slot_];
  const char* bytes = static_cast<const char*>(data);
  if (!borrowed) {
    char* copy = arena(len);
    std::memcpy(copy, data, len);
    bytes = copy;
    // Right behind this connection's last copied piece in the arena: extend it.
    if (p.tail != kEnd) {
      Piece& last = pieces_[p.tail];
      if (last.data + last.len == bytes && size_t(last.len) + len <= UINT32_MAX) {
        last.len += static_cast<uint32_t>(len);
        p.bytes += len;
        return;
      }
    }
  }
  auto idx = static_cast<uint32_t>(pieces_.size());
  pieces_.push_back(Piece{bytes, static_cast<uint32_t>(len), kEnd});
  if (p.tail == kEnd)
    p.head = idx;
  else
    pieces_[p.tail].next = idx;
  p.tail = idx;
  p.bytes += len;
}

void WriteBatch::spill(Pending& p, size_t skip) {
  evbuffer* out = p.conn->output();
  for (uint32_t i = p.head; i != kEnd; i = pieces_[i].next) {
    const Piece& piece = pieces_[i];
    if (skip >= piece.len) {
      skip -= piece.len;
      continue;
    }
    evbuffer_add(out, piece.data + skip, piece.len - skip);
    skip = 0;
  }
  p.head = p.tail = kEnd;
  p.bytes = 0;
}

void WriteBatch::write_pending(Pending& p) {
  ServerConnection* c = p.conn;
  size_t written = 0;
  iovec iov[kIov];
  for (uint32_t i = p.head; i != kEnd;) {
    int n = 0;
    size_t offered = 0;
    for (; i != kEnd && n < kIov; i = pieces_[i].next, ++n) {
      iov[n].iov_base = const_cast<char*>(pieces_[i].data);
      iov[n].iov_len = pieces_[i].len;
      offered += pieces_[i].len;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = ::sendmsg(c->fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    ++writes_;
    if (w <= 0) break;  // full (EAGAIN) or broken: the write event takes over and tells
    written += static_cast<size_t>(w);
    if (static_cast<size_t>(w) < offered) break;
  }
  if (written < p.bytes) {
    spill(p, written);
    ++armed_;
    c->arm_write();
  }
}

void WriteBatch::reset_arena() {
  used_blocks_ = 0;
  block_used_ = kBlock;
  big_.clear();
  if (blocks_.size() > kKeepBlocks) blocks_.resize(kKeepBlocks);
  if (pieces_.capacity() > kMaxKeptPieces)
    std::vector<Piece>().swap(pieces_);
  else
    pieces_.clear();
}

void WriteBatch::flush() {
  scheduled_ = false;
  // Writing runs no user callbacks, so nothing is queued while this loop runs.
  for (size_t i = 0; i < pending_.size(); ++i) {
    Pending& p = pending_[i];
    if (!p.conn) continue;
    p.conn->batch_slot_ = ServerConnection::kNoSlot;
    write_pending(p);
  }
  pending_.clear();  // keeps its capacity: the next turn's fan-out is likely as large
  reset_arena();
  kept_.clear();
  if (on_flushed_) on_flushed_();
}

}  // namespace chat::ws
