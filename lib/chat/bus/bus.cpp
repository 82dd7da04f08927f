// See bus.hpp.
#include "chat/bus/bus.hpp"

#include <event2/thread.h>
#include <nats/nats.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#include "chat/obs/log.hpp"

namespace chat::bus {
namespace {

// "nats://a:1, nats://b:2" -> {"nats://a:1", "nats://b:2"}.
std::vector<std::string> split_servers(const std::string& url) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= url.size()) {
    size_t comma = url.find(',', start);
    if (comma == std::string::npos) comma = url.size();
    std::string item = url.substr(start, comma - start);
    size_t b = item.find_first_not_of(" \t");
    size_t e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    start = comma + 1;
  }
  return out;
}

}  // namespace

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    evthread_use_pthreads();
    nats_Open(-1);
  });
}

const char* to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::timeout:
      return "timeout";
    case Status::no_responders:
      return "no_responders";
    case Status::disconnected:
      return "disconnected";
    case Status::error:
      return "error";
  }
  return "error";
}

// A message handed from a libnats thread to the loop.
struct Delivery {
  uint64_t sub_id;
  natsMsg* msg;
};

struct TimeoutArg;
struct Pending {
  Bus::ReplyHandler done;
  event* timer = nullptr;
  TimeoutArg* arg = nullptr;  // owned; freed with the timer
};

struct SubRecord {
  natsSubscription* sub = nullptr;
  Bus::Handler handler;
};

struct TimeoutArg {
  Bus::Impl* impl;
  uint64_t token;
};

static void release(Pending& p) {
  if (p.timer) event_free(p.timer);
  delete p.arg;
  p.timer = nullptr;
  p.arg = nullptr;
}

// What libnats' own threads reach through callback closures. libnats does not wait for
// its delivery and async-callback threads when a connection is closed, so a disconnected
// callback (or a message) can arrive after ~Bus, even during exit: this outlives the Bus
// (kept in g_shared, never freed, not even at exit), and `impl` goes null under `mu` when
// the Bus goes; callbacks then do nothing (an orderly close is not news).
struct Shared {
  std::string name;  // set before the connection exists, then read-only
  std::mutex mu;
  Bus::Impl* impl = nullptr;
};

struct Bus::Impl {
  event_base* base = nullptr;
  natsConnection* conn = nullptr;
  std::string name;
  Shared* shared = nullptr;

  // Hand-off queue: filled by libnats threads, drained on the loop.
  std::mutex mu;
  std::vector<Delivery> queue;
  event* wake = nullptr;

  // Loop-thread state.
  std::unordered_map<uint64_t, SubRecord> subs;
  uint64_t next_sub = 1;
  std::string inbox_prefix;  // "_INBOX.<nuid>."
  uint64_t inbox_sub = 0;
  std::unordered_map<uint64_t, Pending> pending;
  uint64_t next_token = 1;

  static void on_nats_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);
  static void on_wake(evutil_socket_t, short, void* arg);
  static void on_timeout(evutil_socket_t, short, void* arg);
  void drain();
  void finish(uint64_t token, Status status, Message& m);
};

// Closure for a libnats subscription: the Bus's Shared and the subscription's id. Owned
// by `closures` below so it outlives the subscription's last callback.
struct SubClosure {
  Shared* shared;
  uint64_t id;
};

namespace {
std::mutex g_closures_mu;
// Freed never, not even by static destructors: libnats threads may still call back while
// the process exits.
auto& g_closures = *new std::vector<std::unique_ptr<SubClosure>>;  // a few per subscription
auto& g_shared = *new std::vector<std::unique_ptr<Shared>>;        // one per Bus

SubClosure* make_closure(Shared* shared, uint64_t id) {
  std::lock_guard lock(g_closures_mu);
  g_closures.push_back(std::make_unique<SubClosure>(SubClosure{shared, id}));
  return g_closures.back().get();
}

// Runs f(name) under the Shared's lock unless its Bus is gone.
template <class F>
void if_open(void* closure, F f) {
  auto* shared = static_cast<Shared*>(closure);
  std::lock_guard lock(shared->mu);
  if (shared->impl) f(shared->name);
}

Shared* make_shared_state(Bus::Impl* impl, const std::string& name) {
  std::lock_guard lock(g_closures_mu);
  g_shared.push_back(std::make_unique<Shared>());
  g_shared.back()->name = name;
  g_shared.back()->impl = impl;
  return g_shared.back().get();
}
}  // namespace

void Bus::Impl::on_nats_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* c = static_cast<SubClosure*>(closure);
  std::lock_guard alive(c->shared->mu);  // ~Bus waits for us, or we see it gone
  Impl* self = c->shared->impl;
  if (!self) {
    natsMsg_Destroy(msg);
    return;
  }
  bool was_empty;
  {
    std::lock_guard lock(self->mu);
    was_empty = self->queue.empty();
    self->queue.push_back(Delivery{c->id, msg});
  }
  if (was_empty) event_active(self->wake, EV_READ, 0);
}

void Bus::Impl::on_wake(evutil_socket_t, short, void* arg) {
  static_cast<Impl*>(arg)->drain();
}

void Bus::Impl::drain() {
  std::vector<Delivery> batch;
  {
    std::lock_guard lock(mu);
    batch.swap(queue);
  }
  for (auto& d : batch) {
    Message m;
    if (const char* s = natsMsg_GetSubject(d.msg)) m.subject = s;
    if (const char* r = natsMsg_GetReply(d.msg)) m.reply = r;
    if (const char* data = natsMsg_GetData(d.msg))
      m.data.assign(data, static_cast<size_t>(natsMsg_GetDataLength(d.msg)));
    bool no_responders = natsMsg_IsNoResponders(d.msg);
    natsMsg_Destroy(d.msg);

    if (d.sub_id == inbox_sub) {
      // "_INBOX.<nuid>.<token>"
      uint64_t token = std::strtoull(m.subject.c_str() + inbox_prefix.size(), nullptr, 10);
      finish(token, no_responders ? Status::no_responders : Status::ok, m);
      continue;
    }
    auto it = subs.find(d.sub_id);
    if (it == subs.end()) continue;  // unsubscribed while the message was queued
    // Copy: the handler may unsubscribe itself.
    Handler h = it->second.handler;
    h(m);
  }
}

void Bus::Impl::finish(uint64_t token, Status status, Message& m) {
  auto it = pending.find(token);
  if (it == pending.end()) return;  // late reply after a timeout
  Pending p = std::move(it->second);
  pending.erase(it);
  release(p);
  p.done(status, m);
}

void Bus::Impl::on_timeout(evutil_socket_t, short, void* arg) {
  auto* t = static_cast<TimeoutArg*>(arg);
  Impl* impl = t->impl;
  auto it = impl->pending.find(t->token);
  if (it == impl->pending.end()) return;
  Message empty;
  Pending p = std::move(it->second);
  impl->pending.erase(it);
  release(p);
  p.done(natsConnection_Status(impl->conn) == NATS_CONN_STATUS_CONNECTED ? Status::timeout
                                                                         : Status::disconnected,
         empty);
}

Bus::Bus(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Bus::~Bus() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->shared->mu);
    impl_->shared->impl = nullptr;
  }
  for (auto& [id, rec] : impl_->subs) {
    natsSubscription_Unsubscribe(rec.sub);
    natsSubscription_Destroy(rec.sub);
  }
  impl_->subs.clear();
  if (impl_->conn) {
    natsConnection_Close(impl_->conn);
    natsConnection_Destroy(impl_->conn);
  }
  for (auto& [token, p] : impl_->pending) release(p);
  {
    std::lock_guard lock(impl_->mu);
    for (auto& d : impl_->queue) natsMsg_Destroy(d.msg);
    impl_->queue.clear();
  }
  if (impl_->wake) event_free(impl_->wake);
}

std::unique_ptr<Bus> Bus::connect(event_base* base, const std::string& url, const std::string& name,
                                  std::string& error, int connect_timeout_ms) {
  global_init();
  auto impl = std::make_unique<Impl>();
  impl->base = base;
  impl->name = name;
  impl->wake = event_new(base, -1, 0, &Impl::on_wake, impl.get());
  impl->shared = make_shared_state(impl.get(), name);

  // A cluster is a comma-separated list: libnats picks one server, and after a loss
  // reconnects to any of them (and to servers the cluster tells it about), so a stopped
  // server costs one reconnect, not the daemon.
  std::vector<std::string> servers = split_servers(url);
  if (servers.empty()) {
    error = "nats.url names no server";
    event_free(impl->wake);
    return nullptr;
  }
  std::vector<const char*> server_ptrs;
  for (auto& s : servers) server_ptrs.push_back(s.c_str());
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  natsStatus set =
      natsOptions_SetServers(opts, server_ptrs.data(), static_cast<int>(server_ptrs.size()));
  if (set != NATS_OK) {
    error = "nats.url: \"" + url + "\": " + natsStatus_GetText(set);
    natsOptions_Destroy(opts);
    event_free(impl->wake);
    return nullptr;
  }
  natsOptions_SetName(opts, name.c_str());
  // No natsOptions_SetEventLoop: libnats reads and flushes the socket on threads of its
  // own (bus.hpp says why).
  natsOptions_SetAllowReconnect(opts, true);
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetReconnectWait(opts, 250);
  natsOptions_SetReconnectJitter(opts, 100, 1000);
  natsOptions_SetTimeout(opts, connect_timeout_ms);
  natsOptions_SetPingInterval(opts, 5000);
  // Without this libnats starts a delivery thread per subscription: a gateway subscribes
  // to chat.evt.user.<id> for every user it holds, so 100,000 users meant 100,000 threads
  // (fork and clone then fail with EAGAIN). The shared pool keeps each subscription's
  // order; our callbacks only queue the message for the loop.
  natsOptions_UseGlobalMessageDelivery(opts, true);
  natsOptions_SetDisconnectedCB(
      opts,
      [](natsConnection*, void* closure) {
        if_open(closure, [](const std::string& name) {
          log::warn("bus", "disconnected", {{"conn", name}});
        });
      },
      impl->shared);
  natsOptions_SetReconnectedCB(
      opts,
      [](natsConnection* nc, void* closure) {
        char server[256] = "";
        natsConnection_GetConnectedUrl(nc, server, sizeof server);
        if_open(closure, [&](const std::string& name) {
          log::notice("bus", "reconnected", {{"conn", name}, {"server", server}});
        });
      },
      impl->shared);
  natsOptions_SetErrorHandler(
      opts,
      [](natsConnection*, natsSubscription*, natsStatus err, void* closure) {
        if_open(closure, [err](const std::string& name) {
          log::warn("bus", "async error", {{"conn", name}, {"error", natsStatus_GetText(err)}});
        });
      },
      impl->shared);

  // The first connect is retried until the deadline: the bus may still be starting.
  int64_t deadline = nats_Now() + connect_timeout_ms;
  natsStatus s;
  for (;;) {
    s = natsConnection_Connect(&impl->conn, opts);
    if (s == NATS_OK || nats_Now() >= deadline) break;
    nats_Sleep(100);
  }
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    error = std::string("cannot connect to the bus at ") + url + ": " + natsStatus_GetText(s);
    event_free(impl->wake);
    impl->wake = nullptr;
    return nullptr;
  }

  // One wildcard inbox for every request this connection makes.
  natsInbox* inbox = nullptr;
  natsInbox_Create(&inbox);
  impl->inbox_prefix = std::string(inbox) + ".";
  natsInbox_Destroy(inbox);
  std::unique_ptr<Bus> bus(new Bus(std::move(impl)));
  Impl* self = bus->impl_.get();
  self->inbox_sub = bus->subscribe(self->inbox_prefix + "*", [](Message&) {});
  if (!self->inbox_sub) {
    error = "cannot subscribe to the request inbox";
    return nullptr;
  }
  return bus;
}

uint64_t Bus::subscribe(const std::string& subject, Handler handler, const std::string& queue) {
  uint64_t id = impl_->next_sub++;
  SubClosure* closure = make_closure(impl_->shared, id);
  natsSubscription* sub = nullptr;
  natsStatus s = queue.empty()
                     ? natsConnection_Subscribe(&sub, impl_->conn, subject.c_str(),
                                                &Impl::on_nats_msg, closure)
                     : natsConnection_QueueSubscribe(&sub, impl_->conn, subject.c_str(),
                                                     queue.c_str(), &Impl::on_nats_msg, closure);
  if (s != NATS_OK) {
    log::err("bus", "subscribe failed", {{"subject", subject}, {"error", natsStatus_GetText(s)}});
    return 0;
  }
  // Generous limits: our own queue drains every loop turn; a limit hit is logged by libnats'
  // error handler as a slow consumer rather than silently growing memory.
  natsSubscription_SetPendingLimits(sub, 1 << 20, 512 << 20);
  impl_->subs[id] = SubRecord{sub, std::move(handler)};
  return id;
}

void Bus::unsubscribe(uint64_t id) {
  auto it = impl_->subs.find(id);
  if (it == impl_->subs.end()) return;
  natsSubscription_Unsubscribe(it->second.sub);
  natsSubscription_Destroy(it->second.sub);
  impl_->subs.erase(it);
}

bool Bus::publish(const std::string& subject, std::string_view data) {
  natsStatus s = natsConnection_Publish(impl_->conn, subject.c_str(), data.data(),
                                        static_cast<int>(data.size()));
  if (s != NATS_OK) {
    log::warn("bus", "publish failed", {{"subject", subject}, {"error", natsStatus_GetText(s)}});
    return false;
  }
  return true;
}

bool Bus::respond(const Message& request, std::string_view data) {
  if (request.reply.empty()) return false;
  return publish(request.reply, data);
}

void Bus::request(const std::string& subject, std::string_view data, int timeout_ms,
                  ReplyHandler done) {
  uint64_t token = impl_->next_token++;
  std::string reply = impl_->inbox_prefix + std::to_string(token);
  natsStatus s = natsConnection_PublishRequest(impl_->conn, subject.c_str(), reply.c_str(),
                                               data.data(), static_cast<int>(data.size()));
  if (s != NATS_OK) {
    Message empty;
    done(natsConnection_Status(impl_->conn) == NATS_CONN_STATUS_CONNECTED ? Status::error
                                                                          : Status::disconnected,
         empty);
    return;
  }
  Pending p;
  p.done = std::move(done);
  p.arg = new TimeoutArg{impl_.get(), token};
  p.timer = evtimer_new(impl_->base, &Impl::on_timeout, p.arg);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  evtimer_add(p.timer, &tv);
  impl_->pending.emplace(token, std::move(p));
}

bool Bus::connected() const {
  return natsConnection_Status(impl_->conn) == NATS_CONN_STATUS_CONNECTED;
}

}  // namespace chat::bus
