// How libnats drives its socket from our libevent loops (natsOptions_SetEventLoop's four
// callbacks). libnats ships an adapter header for this, and we used it, but it deadlocks a
// daemon on a reconnect under load: libnats calls attach from its reconnect thread while
// holding the connection's lock, and the shipped attach frees the old socket event with
// event_free(), which (the base being thread-aware) waits for a callback of that event
// that the loop thread is running; that callback is waiting for the connection's lock
// (seen in a 1,000,000-session run: a gatewayd's loop stuck for good, its sessions
// frozen, SIGTERM unanswered). Here a reconnect retires the old events with
// event_free_finalize(), which never waits: libevent frees them on the loop thread once
// no callback of theirs is running.
//
// detach stays blocking (event_free): libnats calls it only from natsConnection_Close,
// which we call from the thread that owns the loop (never from its reconnect thread: we
// set no reconnect limit).
#pragma once

#include <event2/event.h>
#include <nats/nats.h>

namespace chat::bus::loop_adapter {

// What a socket event does when the socket is ready; natsConnection_Process*Event in the
// daemons, something observable in the unit test.
struct Processing {
  void (*on_read)(natsConnection*) = natsConnection_ProcessReadEvent;
  void (*on_write)(natsConnection*) = natsConnection_ProcessWriteEvent;
};

// The callbacks for natsOptions_SetEventLoop (the loop is an event_base*).
natsStatus attach(void** user, void* loop, natsConnection* nc, natsSock socket);
natsStatus read(void* user, bool add);
natsStatus write(void* user, bool add);
natsStatus detach(void* user);

// attach with other processing (tests).
natsStatus attach_with(void** user, event_base* loop, natsConnection* nc, natsSock socket,
                       Processing processing);

}  // namespace chat::bus::loop_adapter
