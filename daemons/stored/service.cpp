// See service.hpp.
#include "service.hpp"

#include <unistd.h>

#include "chat/obs/log.hpp"
#include "chat/proto/subjects.hpp"

namespace chat::stored {

Service::Service(event_base* base, bus::Bus& bus, store::Engine& engine, obs::Registry& registry,
                 bool sync)
    : base_(base),
      bus_(bus),
      handler_(engine),
      commit_(base, engine, bus, registry, sync),
      writes_(registry.counter("chat_stored_writes_total",
                               "Write requests staged into a group commit")),
      reads_(registry.counter("chat_stored_reads_total", "Read requests answered")),
      bad_(registry.counter("chat_stored_bad_requests_total",
                            "Requests answered 400 (undecodable, bad version, bad fields)")),
      errors_(registry.counter("chat_stored_errors_total",
                               "Requests answered 500 before commit (storage read errors)")) {}

bool Service::start(int first_shard, int last_shard, std::function<void()> on_live) {
  // Only our range: another stored owns the other shards (and their RocksDB). The queue
  // group keeps a misconfigured overlap from answering one request twice.
  for (int shard = first_shard; shard <= last_shard; ++shard) {
    std::string subject = subjects::store(static_cast<uint32_t>(shard));
    uint64_t id = bus_.subscribe(
        subject, [this](bus::Message& m) { on_request(m); }, "stored");
    if (id == 0) {
      log::err("store", "cannot subscribe", {{"subject", subject}});
      return false;
    }
    subs_.push_back(id);
  }
  serving_ = true;
  log::info("store", "subscribed",
            {{"subjects",
              "chat.store." + std::to_string(first_shard) + "-" + std::to_string(last_shard)}});
  return live_.start(base_, bus_,
                     "_stored.live." + std::to_string(getpid()) + "." +
                         std::to_string(reinterpret_cast<uintptr_t>(this)),
                     "store", "subscriptions not confirmed yet, asking again", std::move(on_live));
}

void Service::stop() {
  serving_ = false;
  live_.cancel();
  for (uint64_t id : subs_) bus_.unsubscribe(id);
  subs_.clear();
  size_t held = commit_.held();
  commit_.flush();
  log::notice("store", "drained", {{"answered", held}});
}

std::string Service::not_ready_reason() const {
  if (!serving_) return "not serving";
  if (!live_.live()) return "subscriptions not confirmed by the bus yet";
  if (!bus_.connected()) return "bus disconnected";
  return {};
}

void Service::answer(const bus::Message& m, const proto::StoreReply& reply) {
  if (!m.reply.empty()) bus_.publish(m.reply, proto::pack(reply));
}

void Service::on_request(bus::Message& m) {
  if (!serving_) return;  // stopping: the caller times out and retries elsewhere
  proto::StoreRequest request;
  proto::StoreReply reply;
  std::string error;
  if (!store::decode_request(m.data, request, error)) {
    bad_.inc();
    log::warn("store", "bad request",
              {{"subject", m.subject}, {"bytes", m.data.size()}, {"error", error}});
    reply.status = 400;
    reply.error = error;
    answer(m, reply);
    return;
  }
  store::Handled h = handler_.handle(request, reply);
  if (reply.status == 400) {
    bad_.inc();
    log::warn("store", "bad request", {{"op", request.op.substr(0, 64)}, {"error", reply.error}});
  } else if (reply.status >= 500) {
    errors_.inc();
    log::err("store", "request failed", {{"op", request.op}, {"error", reply.error}});
  }
  if (h.when == store::Disposition::reply_after_commit) {
    writes_.inc();
    commit_.defer(m.reply, std::move(reply));
    return;
  }
  if (!h.write) reads_.inc();
  answer(m, reply);
}

}  // namespace chat::stored
