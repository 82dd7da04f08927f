// WriteBatch: the pending list and the end-of-turn flush event (see write_batch.hpp). The
// writing itself is ServerConnection::flush_batched(), which knows the socket.
#include "chat/ws/write_batch.hpp"

#include <event2/event.h>

#include "chat/ws/server_connection.hpp"

namespace chat::ws {

WriteBatch::WriteBatch(event_base* base) {
  ev_ = event_new(
      base, -1, 0,
      [](evutil_socket_t, short, void* arg) { static_cast<WriteBatch*>(arg)->flush(); }, this);
}

WriteBatch::~WriteBatch() {
  for (ServerConnection* c : pending_)
    if (c) c->detach_batch();
  if (ev_) event_free(ev_);
}

void WriteBatch::schedule() {
  if (scheduled_ || !ev_) return;
  scheduled_ = true;
  event_active(ev_, EV_WRITE, 0);
}

void WriteBatch::add(ServerConnection* c) {
  c->batch_slot_ = static_cast<uint32_t>(pending_.size());
  pending_.push_back(c);
  schedule();
}

void WriteBatch::remove(ServerConnection* c) {
  if (c->batch_slot_ < pending_.size() && pending_[c->batch_slot_] == c) {
    pending_[c->batch_slot_] = nullptr;
    while (!pending_.empty() && !pending_.back()) pending_.pop_back();
  }
  c->batch_slot_ = ServerConnection::kNoSlot;
}

void WriteBatch::flush() {
  scheduled_ = false;
  // Connections queued while flushing (none today: flushing runs no user callbacks) would
  // land after the end and be written in the same pass.
  for (size_t i = 0; i < pending_.size(); ++i) {
    ServerConnection* c = pending_[i];
    if (!c) continue;
    c->batch_slot_ = ServerConnection::kNoSlot;
    pending_[i] = nullptr;
    c->flush_batched(*this);
  }
  pending_.clear();  // keeps its capacity: the next turn's fan-out is likely as large
  if (on_flushed_) on_flushed_();
}

}  // namespace chat::ws
