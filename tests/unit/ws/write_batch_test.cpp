// ws::WriteBatch with ws::ServerConnection on a real socket pair and event loop: frames
// queued in a turn go out in one write at the end of the turn with the write event never
// armed; a peer that does not read gets the write event armed until it has caught up, and
// every byte arrives in order; bytes added by reference are released exactly once; a
// connection aborted or a batch destroyed while pending is safe. Also unread_bytes, what
// the peer sent that the loop has not read yet.
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <string>

#include "chat/ws/frame.hpp"
#include "chat/ws/server_connection.hpp"
#include "chat/ws/write_batch.hpp"

using namespace chat::ws;

namespace {

struct Recorder : ServerConnection::Listener {
  int closes = 0;
  void on_message(ServerConnection&, Opcode, std::string_view) override {}
  void on_close(ServerConnection&, uint16_t, std::string_view) override { ++closes; }
};

struct Pair {
  event_base* base = event_base_new();
  int peer = -1;
  int fd = -1;
  bufferevent* bev = nullptr;
  Pair() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    evutil_make_socket_nonblocking(fds[0]);
    evutil_make_socket_nonblocking(fds[1]);
    peer = fds[1];
    fd = fds[0];
    bev = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
  }
  ~Pair() {
    if (peer >= 0) ::close(peer);
    event_base_free(base);
  }
  void turn() { event_base_loop(base, EVLOOP_NONBLOCK); }
  // Everything the peer can read right now.
  std::string drain_peer() {
    std::string got;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(peer, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
};

// The frames in `wire` after the 101 response, as payloads.
std::vector<std::string> frames_after_handshake(const std::string& wire) {
  size_t pos = wire.find("\r\n\r\n");
  REQUIRE(pos != std::string::npos);
  pos += 4;
  std::vector<std::string> out;
  while (pos < wire.size()) {
    REQUIRE(wire.size() - pos >= 2);
    uint64_t len = static_cast<uint8_t>(wire[pos + 1]) & 0x7f;
    size_t h = 2;
    if (len == 126) {
      len = (uint64_t(uint8_t(wire[pos + 2])) << 8) | uint8_t(wire[pos + 3]);
      h = 4;
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = len << 8 | uint8_t(wire[pos + 2 + i]);
      h = 10;
    }
    REQUIRE(wire.size() - pos >= h + len);
    out.push_back(wire.substr(pos + h, len));
    pos += h + len;
  }
  return out;
}

}  // namespace

TEST_CASE("write batch: a turn's frames go out in one write, the write event never armed") {
  Pair p;
  WriteBatch batch(p.base);
  Recorder rec;
  ServerConnection::Options o;
  o.batch = &batch;
  ServerConnection* c = ServerConnection::accept(p.bev, "abc", &rec, o);
  CHECK_FALSE(c->write_armed());
  CHECK(batch.pending() == 1);  // the 101
  c->send_text("one");
  c->send_text_parts(R"({"s":)", "2}");
  CHECK(batch.pending() == 1);
  CHECK(p.drain_peer().empty());  // nothing written before the turn ends
  p.turn();
  CHECK(batch.pending() == 0);
  CHECK(batch.writes() == 1);
  CHECK(batch.armed() == 0);
  CHECK_FALSE(c->write_armed());
  std::string wire = p.drain_peer();
  CHECK(wire.rfind("HTTP/1.1 101", 0) == 0);
  CHECK(frames_after_handshake(wire) == std::vector<std::string>{"one", R"({"s":2})"});
  CHECK(c->outbound_bytes() == 0);
  // Trimmed while idle (the output buffer is freed), then used again.
  c->trim();
  c->send_text("after trim");
  p.turn();
  CHECK(frames_after_handshake("\r\n\r\n" + p.drain_peer()) ==
        std::vector<std::string>{"after trim"});
  c->abort();
}

TEST_CASE("write batch: a peer that does not read arms the write event until it catches up") {
  Pair p;
  int small = 4096;
  setsockopt(p.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  setsockopt(p.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  WriteBatch batch(p.base);
  Recorder rec;
  ServerConnection::Options o;
  o.batch = &batch;
  ServerConnection* c = ServerConnection::accept(p.bev, "abc", &rec, o);
  std::string big(300000, 'x');
  for (int i = 0; i < 4; ++i) {
    big[0] = static_cast<char>('a' + i);
    c->send_text(big);
  }
  p.turn();
  CHECK(batch.armed() == 1);
  CHECK(c->write_armed());
  CHECK(c->outbound_bytes() > 0);
  // While armed, new frames are written by the write event, not queued on the batch.
  c->send_text("tail");
  CHECK(batch.pending() == 0);
  std::string wire;
  for (int i = 0; i < 100000 && (c->outbound_bytes() > 0 || c->write_armed()); ++i) {
    wire += p.drain_peer();
    p.turn();
  }
  wire += p.drain_peer();
  CHECK(c->outbound_bytes() == 0);
  CHECK_FALSE(c->write_armed());  // disarmed once drained
  auto frames = frames_after_handshake(wire);
  REQUIRE(frames.size() == 5);
  for (int i = 0; i < 4; ++i) {
    CHECK(frames[i].size() == big.size());
    CHECK(frames[i][0] == 'a' + i);
  }
  CHECK(frames[4] == "tail");
  // Back to batching.
  c->send_text("again");
  CHECK(batch.pending() == 1);
  p.turn();
  CHECK(frames_after_handshake("\r\n\r\n" + p.drain_peer()) == std::vector<std::string>{"again"});
  c->abort();
}

TEST_CASE("write batch: borrowed tails are kept until the flush, and copied only when spilled") {
  Pair p;
  WriteBatch batch(p.base);
  Recorder rec;
  ServerConnection::Options o;
  o.batch = &batch;
  ServerConnection* c = ServerConnection::accept(p.bev, "abc", &rec, o);
  auto tail = std::make_shared<std::string>(5000, 't');
  std::weak_ptr<std::string> weak = tail;
  batch.keep(tail);
  batch.keep(tail);  // the same owner again: still one reference
  CHECK(tail.use_count() == 2);
  CHECK(c->send_text_borrowed("head:", *tail));
  CHECK(c->outbound_bytes() > 5000);
  std::string expect = "head:" + *tail;
  tail.reset();
  CHECK_FALSE(weak.expired());  // the batch holds it until the turn's writes are done
  p.turn();
  CHECK(weak.expired());
  auto frames = frames_after_handshake(p.drain_peer());
  REQUIRE(frames.size() == 1);
  CHECK(frames[0] == expect);
  c->close(1000, "bye");
  CHECK_FALSE(c->send_text_borrowed("x", "y"));

  // A peer that does not read: what the socket did not take is copied into the
  // connection's own buffer before the owner is released, and arrives intact.
  Pair q;
  int small = 4096;
  setsockopt(q.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  setsockopt(q.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  WriteBatch batch2(q.base);
  o.batch = &batch2;
  ServerConnection* d = ServerConnection::accept(q.bev, "abc", &rec, o);
  auto big = std::make_shared<std::string>(300000, 'b');
  weak = big;
  batch2.keep(big);
  d->send_text_borrowed("h", *big);
  big.reset();
  q.turn();
  CHECK(weak.expired());
  CHECK(d->write_armed());
  std::string wire;
  for (int i = 0; i < 100000 && (d->outbound_bytes() > 0 || d->write_armed()); ++i) {
    wire += q.drain_peer();
    q.turn();
  }
  wire += q.drain_peer();
  frames = frames_after_handshake(wire);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0] == "h" + std::string(300000, 'b'));
  d->abort();
  c->abort();
}

TEST_CASE("write batch: destroyed before its connections, which then write directly") {
  Pair p;
  Recorder rec;
  ServerConnection* c;
  {
    WriteBatch batch(p.base);
    ServerConnection::Options o;
    o.batch = &batch;
    c = ServerConnection::accept(p.bev, "abc", &rec, o);
    c->send_text("queued");
  }
  c->send_text("direct");
  for (int i = 0; i < 10; ++i) p.turn();
  CHECK(frames_after_handshake(p.drain_peer()) == std::vector<std::string>{"queued", "direct"});
  c->abort();
}

TEST_CASE("write batch: a closing connection flushes its close frame and goes") {
  Pair p;
  WriteBatch batch(p.base);
  Recorder rec;
  ServerConnection::Options o;
  o.batch = &batch;
  ServerConnection* c = ServerConnection::accept(p.bev, "abc", &rec, o);
  c->send_text("last");
  c->close(4000, "bye");
  p.turn();
  auto frames = frames_after_handshake(p.drain_peer());
  REQUIRE(frames.size() == 2);
  CHECK(frames[0] == "last");
  CHECK(frames[1].substr(2) == "bye");
  // The peer answers the close: on_close, then the connection frees itself.
  std::string reply = encode_client_frame(Opcode::close, close_payload(4000, ""));
  REQUIRE(::write(p.peer, reply.data(), reply.size()) == static_cast<ssize_t>(reply.size()));
  for (int i = 0; i < 10 && rec.closes == 0; ++i) p.turn();
  CHECK(rec.closes == 1);
}

TEST_CASE("server connection: unread_bytes counts what the peer sent and the loop has not read") {
  Pair p;
  WriteBatch batch(p.base);
  Recorder rec;
  ServerConnection::Options o;
  o.batch = &batch;
  ServerConnection* c = ServerConnection::accept(p.bev, "abc", &rec, o);
  p.turn();
  p.drain_peer();
  CHECK(c->unread_bytes() == 0);
  // A heartbeat the loop has not got to yet: gatewayd holds back 4009 while this is so.
  std::string beat = encode_client_frame(Opcode::text, R"({"op":1,"d":null})");
  REQUIRE(::write(p.peer, beat.data(), beat.size()) == static_cast<ssize_t>(beat.size()));
  CHECK(c->unread_bytes() == beat.size());
  p.turn();
  CHECK(c->unread_bytes() == 0);
  c->abort();
}
