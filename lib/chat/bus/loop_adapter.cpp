// See loop_adapter.hpp.
#include "chat/bus/loop_adapter.hpp"

namespace chat::bus::loop_adapter {
namespace {

// One connection's events on one loop; `user` in libnats' callbacks.
struct Watch {
  natsConnection* nc = nullptr;
  event_base* loop = nullptr;
  Processing processing;
  event* readable = nullptr;  // EV_READ | EV_PERSIST on the current socket
  event* writable = nullptr;  // EV_WRITE | EV_PERSIST, added only while output waits
  event* hold = nullptr;      // a far timer: the loop does not run dry between sockets
};

void on_socket(evutil_socket_t, short what, void* arg) {
  auto* w = static_cast<Watch*>(arg);
  if (what & EV_READ) w->processing.on_read(w->nc);
  if (what & EV_WRITE) w->processing.on_write(w->nc);
}

void on_hold(evutil_socket_t, short, void*) {}

// Removes `ev` without waiting for a callback of it that the loop thread may be running:
// libevent frees it on the loop thread after that callback returns.
void retire(event*& ev) {
  if (ev == nullptr) return;
  event_free_finalize(0, ev, [](event*, void*) {});
  ev = nullptr;
}

}  // namespace

natsStatus attach_with(void** user, event_base* loop, natsConnection* nc, natsSock socket,
                       Processing processing) {
  auto* w = static_cast<Watch*>(*user);
  if (w == nullptr) {  // the first connect
    w = new Watch;
    w->nc = nc;
    w->loop = loop;
    w->processing = processing;
    w->hold = event_new(loop, -1, EV_PERSIST, on_hold, nullptr);
    timeval far{100000, 0};
    if (w->hold == nullptr || event_add(w->hold, &far) != 0) {
      detach(w);
      return NATS_NO_MEMORY;
    }
  } else {  // a reconnect, on libnats' reconnect thread with the connection locked
    retire(w->readable);
    retire(w->writable);
  }
  w->readable = event_new(loop, socket, EV_READ | EV_PERSIST, on_socket, w);
  w->writable = event_new(loop, socket, EV_WRITE | EV_PERSIST, on_socket, w);
  if (w->readable == nullptr || w->writable == nullptr || event_add(w->readable, nullptr) != 0) {
    if (*user == nullptr) detach(w);
    return NATS_ERR;
  }
  *user = w;
  return NATS_OK;
}

natsStatus attach(void** user, void* loop, natsConnection* nc, natsSock socket) {
  return attach_with(user, static_cast<event_base*>(loop), nc, socket, Processing{});
}

natsStatus read(void* user, bool add) {
  auto* w = static_cast<Watch*>(user);
  int rc = add ? event_add(w->readable, nullptr) : event_del_noblock(w->readable);
  return rc == 0 ? NATS_OK : NATS_ERR;
}

natsStatus write(void* user, bool add) {
  auto* w = static_cast<Watch*>(user);
  int rc = add ? event_add(w->writable, nullptr) : event_del_noblock(w->writable);
  return rc == 0 ? NATS_OK : NATS_ERR;
}

natsStatus detach(void* user) {
  auto* w = static_cast<Watch*>(user);
  if (w->readable) event_free(w->readable);
  if (w->writable) event_free(w->writable);
  if (w->hold) {
    event_active(w->hold, 0, 0);  // wake a loop waiting on the far timer alone
    event_free(w->hold);
  }
  delete w;
  return NATS_OK;
}

}  // namespace chat::bus::loop_adapter
