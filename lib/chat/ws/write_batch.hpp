// Per-loop write batching for server WebSocket connections. A connection that has a
// WriteBatch does not queue its frames in a buffer of its own: their bytes are appended
// to the batch's arena for this loop turn (or, for a borrowed tail, only pointed at), as
// a list of pieces per connection, and the connection is put on the batch's pending list.
// Once per loop turn (an event activated by the first queued frame, run after the
// callbacks already active, e.g. a whole fan-out) every pending connection is written
// with one writev of its pieces; whatever the socket did not take is copied into the
// connection's own output buffer and its write event armed until that has drained (new
// frames then go behind it, not through the batch). So a fan-out of one event to N
// connections costs about N writev calls, no epoll_ctl and no allocation per connection,
// and several frames queued for one connection in a turn go out in one writev.
//
// Borrowed bytes (ServerConnection::send_text_borrowed) must stay valid until the end of
// the flush; keep() holds an owner for that long (one reference per turn, however many
// connections borrow from it).
//
// One batch per event_base, used on that loop's thread only. It must outlive its
// connections, or be destroyed first (it then detaches them: their pieces are copied into
// their own buffers and they write directly).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

struct event;
struct event_base;

namespace chat::ws {

class ServerConnection;

class WriteBatch {
 public:
  explicit WriteBatch(event_base* base);
  ~WriteBatch();
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  // Runs after every flush (the loop turn's writes are done), e.g. for latency metrics.
  void set_on_flushed(std::function<void()> fn) { on_flushed_ = std::move(fn); }
  // Makes sure a flush runs this turn even if nothing is queued (on_flushed still runs).
  void schedule();
  // Keeps `owner` alive until the end of this turn's flush (borrowed bytes live in it).
  // Consecutive calls with the same object cost one reference.
  template <typename T>
  void keep(const std::shared_ptr<T>& owner) {
    if (kept_.empty() || kept_.back().get() != static_cast<const void*>(owner.get()))
      keep_new(std::shared_ptr<const void>(owner));
  }
  // Writes every pending connection now.
  void flush();
  size_t pending() const { return pending_.size(); }  // may count removed slots
  // Totals since creation, for tests and metrics.
  uint64_t writes() const { return writes_; }  // writev calls made by flush()
  uint64_t armed() const { return armed_; }    // times a write event had to be armed

 private:
  friend class ServerConnection;
  static constexpr uint32_t kEnd = UINT32_MAX;
  static constexpr size_t kBlock = 64 * 1024;  // arena block; larger copies get their own
  static constexpr size_t kKeepBlocks = 64;    // blocks kept for the next turns
  struct Piece {
    const char* data;
    uint32_t len;
    uint32_t next;  // index in pieces_, or kEnd
  };
  struct Pending {
    ServerConnection* conn;  // null: removed since queued
    uint32_t head = kEnd, tail = kEnd;
    size_t bytes = 0;
  };
  void keep_new(std::shared_ptr<const void> owner);
  // Adds `c` to the pending list (its batch_slot_).
  void add(ServerConnection* c);
  // Takes `c` off the list; its pieces are forgotten.
  void remove(ServerConnection* c);
  // Appends bytes to c's pieces: copied into the arena, or (borrowed) pointed at.
  void append(ServerConnection* c, const void* data, size_t len, bool borrowed);
  char* arena(size_t len);
  // Writes c's pieces with writev; what is not taken goes to c's own output buffer.
  void write_pending(Pending& p);
  // Copies c's pending pieces from `skip` bytes on into its own output buffer.
  void spill(Pending& p, size_t skip);
  void reset_arena();

  event* ev_ = nullptr;
  std::vector<Pending> pending_;
  std::vector<Piece> pieces_;
  std::vector<std::unique_ptr<char[]>> blocks_;  // blocks_[0..used_blocks_) in use
  std::vector<std::unique_ptr<char[]>> big_;     // copies larger than a block, this turn
  size_t used_blocks_ = 0;
  size_t block_used_ = kBlock;  // bytes used in the current block
  std::vector<std::shared_ptr<const void>> kept_;
  std::function<void()> on_flushed_;
  bool scheduled_ = false;
  uint64_t writes_ = 0;
  uint64_t armed_ = 0;
};

}  // namespace chat::ws
