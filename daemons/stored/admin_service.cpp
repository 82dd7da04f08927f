// See admin_service.hpp.
#include "admin_service.hpp"

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "chat/obs/log.hpp"
#include "chat/proto/subjects.hpp"
#include "chat/store/maintenance.hpp"
#include "chat/store/retention.hpp"
#include "chat/store/stats.hpp"

namespace chat::stored {
namespace {

int http_status(const store::Status& s) {
  switch (s.code()) {
    case store::Status::Code::ok:
      return 200;
    case store::Status::Code::bad_request:
      return 400;
    case store::Status::Code::not_found:
      return 404;
    case store::Status::Code::already_exists:
      return 409;
    case store::Status::Code::busy:
      return 503;
    default:
      return 500;
  }
}

uint64_t unix_ms_now() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

bool decode_admin_request(std::string_view bytes, proto::AdminRequest& out, std::string& error) {
  if (bytes.empty()) {
    error = "empty body";
    return false;
  }
  try {
    msgpack::unpack_limit limits(/*array=*/64, /*map=*/64, /*str=*/4096, /*bin=*/4096,
                                 /*ext=*/64, /*depth=*/4);
    msgpack::object_handle oh =
        msgpack::unpack(bytes.data(), bytes.size(), nullptr, nullptr, limits);
    oh.get().convert(out);
  } catch (const std::exception& e) {
    error = std::string("undecodable request: ") + e.what();
    return false;
  }
  if (out.v > proto::kSchemaVersion) {
    error = "schema version " + std::to_string(out.v) + " is newer than ours (" +
            std::to_string(proto::kSchemaVersion) + ")";
    return false;
  }
  return true;
}

AdminService::AdminService(event_base* base, bus::Bus& bus, store::Engine& engine,
                           obs::Registry& registry, std::string backups_dir)
    : bus_(bus),
      engine_(engine),
      backups_dir_(std::move(backups_dir)),
      fast_(base, "stored-stats", 16),
      slow_(base, "stored-maint", 16),
      requests_(registry.counter("chat_stored_admin_requests_total",
                                 "Operator requests on chat.admin.stored")),
      bad_(registry.counter("chat_stored_admin_bad_requests_total",
                            "Operator requests answered 400")),
      retention_messages_(registry.counter("chat_stored_retention_removed_messages_total",
                                           "Messages removed by retention since start")),
      retention_buckets_(registry.counter("chat_stored_retention_removed_buckets_total",
                                          "Buckets removed whole by retention since start")),
      retention_runs_(registry.counter("chat_stored_retention_sweeps_total",
                                       "Retention sweeps finished since start")) {}

bool AdminService::start() {
  sub_ = bus_.subscribe(subjects::admin("stored"), [this](bus::Message& m) { on_request(m); });
  if (sub_ == 0) {
    log::err("store", "cannot subscribe", {{"subject", subjects::admin("stored")}});
    return false;
  }
  return true;
}

void AdminService::stop() {
  if (sub_ != 0) bus_.unsubscribe(sub_);
  sub_ = 0;
  engine_.cancel_manual_compactions();
  fast_.stop();
  slow_.stop();
}

void AdminService::answer(const std::string& reply_subject, const proto::AdminReply& reply) {
  if (!reply_subject.empty()) bus_.publish(reply_subject, proto::pack(reply));
}

void AdminService::run(Worker& worker, const std::string& reply_subject, const std::string& op,
                       std::function<store::Status(std::string& text)> job) {
  struct Outcome {
    store::Status status;
    std::string text;
  };
  auto outcome = std::make_shared<Outcome>();
  bool queued = worker.post(
      [outcome, job = std::move(job)] { outcome->status = job(outcome->text); },
      [this, outcome, reply_subject, op] {
        proto::AdminReply reply;
        reply.status = http_status(outcome->status);
        if (outcome->status.is_ok()) {
          reply.text = std::move(outcome->text);
        } else {
          reply.error = outcome->status.message();
          log::warn("store", "admin request failed", {{"op", op}, {"error", reply.error}});
        }
        answer(reply_subject, reply);
      });
  if (!queued) {
    proto::AdminReply reply;
    reply.status = 503;
    reply.error = "busy: too many operator requests queued, or stopping";
    answer(reply_subject, reply);
  }
}

void AdminService::on_request(bus::Message& m) {
  requests_.inc();
  proto::AdminRequest r;
  std::string error;
  if (!decode_admin_request(m.data, r, error)) {
    bad_.inc();
    log::warn("store", "bad admin request", {{"bytes", m.data.size()}, {"error", error}});
    proto::AdminReply reply;
    reply.status = 400;
    reply.error = error;
    answer(m.reply, reply);
    return;
  }
  log::info("store", "admin request", {{"op", r.op.substr(0, 64)}, {"channel_id", r.channel_id}});
  store::Engine& engine = engine_;
  const uint64_t channel = r.channel_id;
  if (r.op == "stats") {
    run(fast_, m.reply, r.op, [&engine, channel](std::string& text) {
      text = store::stats_json(engine, channel);
      return store::Status::ok();
    });
  } else if (r.op == "compact") {
    run(slow_, m.reply, r.op, [&engine, channel](std::string& text) {
      store::CompactResult res;
      store::Status s = store::compact(engine, channel, res);
      if (s.is_ok())
        text = nlohmann::json{{"channel_id", std::to_string(channel)},
                              {"before_bytes", res.before_bytes},
                              {"after_bytes", res.after_bytes},
                              {"seconds", res.seconds}}
                   .dump();
      return s;
    });
  } else if (r.op == "backup") {
    if (!store::valid_backup_name(r.name)) {
      bad_.inc();
      proto::AdminReply reply;
      reply.status = 400;
      reply.error = "backup name must be 1-64 of [A-Za-z0-9._-] without \"..\"";
      log::warn("store", "bad admin request", {{"op", "backup"}, {"error", reply.error}});
      answer(m.reply, reply);
      return;
    }
    std::string dir = backups_dir_, name = r.name;
    run(slow_, m.reply, r.op, [&engine, dir, name](std::string& text) {
      auto start = std::chrono::steady_clock::now();
      std::string path;
      store::Status s = store::backup(engine, dir, name, path);
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (s.is_ok())
        text = nlohmann::json{{"name", name}, {"path", path}, {"seconds", seconds}}.dump();
      return s;
    });
  } else if (r.op == "retention.run") {
    const std::atomic<bool>* stop = &slow_.stopping();
    auto result = std::make_shared<store::SweepResult>();
    run(slow_, m.reply, r.op, [this, &engine, stop, result](std::string& text) {
      auto start = std::chrono::steady_clock::now();
      store::Status s = store::sweep_retention(engine, unix_ms_now(), stop, *result);
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      retention_messages_.inc(result->removed_messages);
      retention_buckets_.inc(result->removed_buckets);
      if (s.is_ok()) retention_runs_.inc();
      text = nlohmann::json{{"channels", result->channels},
                            {"removed_messages", result->removed_messages},
                            {"removed_buckets", result->removed_buckets},
                            {"seconds", seconds}}
                 .dump();
      return s;
    });
  } else {
    bad_.inc();
    proto::AdminReply reply;
    reply.status = 400;
    reply.error = "unknown op \"" + r.op.substr(0, 64) + "\"";
    log::warn("store", "bad admin request", {{"error", reply.error}});
    answer(m.reply, reply);
  }
}

void AdminService::schedule_retention_sweep() {
  if (sweep_queued_) return;
  const std::atomic<bool>* stop = &slow_.stopping();
  auto result = std::make_shared<store::SweepResult>();
  auto status = std::make_shared<store::Status>();
  store::Engine& engine = engine_;
  bool queued = slow_.post(
      [&engine, stop, result, status] {
        *status = store::sweep_retention(engine, unix_ms_now(), stop, *result);
      },
      [this, result, status] {
        sweep_queued_ = false;
        retention_messages_.inc(result->removed_messages);
        retention_buckets_.inc(result->removed_buckets);
        if (!status->is_ok()) {
          log::err("store", "retention sweep failed", {{"error", status->message()}});
          return;
        }
        retention_runs_.inc();
        if (result->removed_messages > 0)
          log::notice("store", "retention sweep",
                      {{"channels", result->channels},
                       {"removed_messages", result->removed_messages},
                       {"removed_buckets", result->removed_buckets}});
      });
  sweep_queued_ = queued;
}

}  // namespace chat::stored
