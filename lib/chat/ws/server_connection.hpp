// One server-side WebSocket connection, on the socket of a bufferevent taken over from
// http::Server's upgrade hook. It reads frames with FrameParser, answers pings, runs the
// closing handshake, and tells a Listener about messages and the close. The gateway holds
// up to a million of these, so an idle one is small: the socket and one read event, a
// parser with empty buffers, a few pointers (about 300 bytes in all). The HTTP side's
// bufferevent (nearly 1 KB with its two buffers and events) is freed at the upgrade:
// bytes are read straight into a per-thread buffer and fed to the parser, which keeps
// only a partial frame; the output buffer and the write event exist only while there is
// something to send, and trim() frees them once the connection is idle again. The close
// timer is allocated only while closing.
//
// Ownership: the connection owns itself (and its socket). It is created by accept() and
// destroys itself right after Listener::on_close returns, which is always the last
// callback, called exactly once. abort() destroys it at once, without on_close. Methods
// may be called from inside the Listener callbacks (including abort()).
//
// Writing: without a WriteBatch, queued frames go to the connection's output buffer, arm
// the write event and are written when the socket is writable. With one (Options::batch),
// frames go to the batch, which writes them once per loop turn (write_batch.hpp); only
// what the socket did not take lands in the connection's own buffer, with the write event
// armed until it drains. The connection leaves the batch when it finishes, to flush its
// last bytes the plain way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chat/ws/frame.hpp"

struct bufferevent;
struct event;
struct evbuffer;

namespace chat::ws {

class WriteBatch;

class ServerConnection {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // A complete text or binary message (text is valid UTF-8). The view is valid only
    // during the call.
    virtual void on_message(ServerConnection& conn, Opcode opcode, std::string_view payload) = 0;
    // The connection is finished: the peer's close code (1005 if none), the code we sent
    // on a protocol error, or 1006 if the TCP connection dropped without a close. The
    // object is destroyed right after this returns.
    virtual void on_close(ServerConnection& conn, uint16_t code, std::string_view reason) = 0;
  };

  struct Options {
    size_t max_message = 1 << 20;  // larger messages close with 1009
    int close_timeout_ms = 2000;   // after our close frame, wait this long for the peer's
    WriteBatch* batch = nullptr;   // the loop's write batch, if it has one
  };
  // Writes the 101 response (with `accept` from check_server_handshake and optional
  // extra header lines, each ending "\r\n"), takes ownership of `bev` and starts reading;
  // bytes already in its input are parsed as frames. Never null.
  static ServerConnection* accept(bufferevent* bev, std::string_view accept, Listener* listener,
                                  const Options& options, std::string_view extra_headers = {});

  // Queue a message; false if closing or closed (the data is then dropped).
  bool send_text(std::string_view payload) { return send(Opcode::text, payload); }
  bool send_binary(std::string_view payload) { return send(Opcode::binary, payload); }
  bool send(Opcode opcode, std::string_view payload);
  bool send_ping(std::string_view payload = {});
  // Writes bytes that already hold complete frame(s), e.g. from encode_server_frame(), so
  // one encoding serves many connections.
  bool send_raw_frame(std::string_view frame);
  // One text frame whose payload is `prefix` followed by `tail`, both copied.
  bool send_text_parts(std::string_view prefix, std::string_view tail);
  // One text frame whose payload is `prefix` (copied) followed by `tail`, which is not
  // copied when the frame goes out through this turn's write batch: the caller keeps it
  // alive until the batch's flush ends (WriteBatch::keep). Without a batch, or while the
  // write event is armed, `tail` is copied like any payload.
  bool send_text_borrowed(std::string_view prefix, std::string_view tail);

  // Starts the closing handshake: sends a close frame, stops delivering messages, waits
  // for the peer's close (or the timeout) and the output to drain, then on_close(code,
  // reason) with our code. A second call does nothing.
  void close(uint16_t code = close_code::normal, std::string_view reason = {});
  // Drops the TCP connection now and destroys the object; no on_close.
  void abort();

  // Bytes queued in the socket's output buffer, not yet written (slow-consumer checks).
  size_t outbound_bytes() const;
  // Bytes the peer sent that the kernel holds and this loop has not read yet (FIONREAD;
  // one syscall): nonzero when the loop is behind, e.g. a heartbeat waiting to be read.
  size_t unread_bytes() const;
  // Frees the output buffer and the write event when nothing is queued (the owner calls
  // this now and then, e.g. from a periodic sweep, so idle connections hold neither).
  void trim();
  // The write event is armed: the socket did not take everything (tests, metrics).
  bool write_armed() const { return write_armed_; }
  // Connections alive in this process, including closing ones and those lingering after
  // on_close to flush their last bytes: an owner that drains waits for this to reach 0
  // (within its deadline) before it stops the loop, which would leak them.
  static size_t live_count();
  bool open() const { return state_ == State::open; }
  // Peer address, "1.2.3.4:5678" (computed on demand).
  std::string peer() const;
  // The owner's pointer (the session), for Listener implementations shared by many.
  void set_user(void* user) { user_ = user; }
  void* user() const { return user_; }
  void set_listener(Listener* listener) { listener_ = listener; }

 private:
  friend class WriteBatch;
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  enum class State : uint8_t { open, closing, closed };
  ServerConnection(int fd, Listener* listener, const Options& options);
  ~ServerConnection();
  static void read_cb(int fd, short what, void* arg);
  static void write_cb(int fd, short what, void* arg);
  static void timer_cb(int fd, short what, void* arg);
  void on_readable();
  // Feeds received bytes to the parser and acts on what comes out.
  void consume(const char* data, size_t len);
  // The socket ended (EOF or an error) outside a closing handshake we finished.
  void on_broken(bool eof);
  evbuffer* output();
  // Writes queued output now, at most `rounds` writev calls; false on a socket error.
  bool write_out(int rounds, uint64_t* writes);
  void arm_write();
  void disarm_write();
  void finish(uint16_t code, std::string_view reason);
  void send_close_frame(uint16_t code, std::string_view reason);
  void write_frame(Opcode opcode, std::string_view payload);
  void release_if_dead();
  // Queues bytes: into the batch (borrowed ones only pointed at) while batched and the
  // write event is off, else copied into the output buffer with the write event armed.
  void put(const void* data, size_t len, bool borrowed = false);
  // A text frame's header and `prefix` (copied), then `tail` (borrowed or copied).
  void put_text(std::string_view prefix, std::string_view tail, bool borrowed);
  // Stops batching: what the batch holds for us moves to the output buffer, written by the
  // write event as without a batch.
  void leave_batch();
  // The batch is going away before us.
  void detach_batch();
  int fd_;
  event* read_ev_ = nullptr;
  event* write_ev_ = nullptr;     // while there is output the socket did not take
  evbuffer* out_ = nullptr;       // while there is (or lately was) output
  std::string* early_ = nullptr;  // frames that came with the upgrade request, until parsed
  Listener* listener_;
  void* user_ = nullptr;
  event* close_timer_ = nullptr;
  WriteBatch* batch_ = nullptr;
  FrameParser parser_;
  int close_timeout_ms_;
  uint32_t batch_slot_ = kNoSlot;  // index in the batch's pending list, while on it
  uint16_t close_code_ = 0;        // code we sent (for on_close when we started closing)
  State state_ = State::open;
  bool peer_closed_ = false;  // the peer's close frame arrived
  uint8_t depth_ = 0;         // > 0 while inside a callback (destruction is deferred)
  bool dead_ = false;         // destroy when depth_ returns to 0
  bool write_armed_ = false;  // the write event is on (batched: the socket was full)
};

}  // namespace chat::ws
