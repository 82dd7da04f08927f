// See group_commit.hpp.
#include "group_commit.hpp"

#include <chrono>

#include "chat/obs/log.hpp"

namespace chat::stored {

GroupCommit::GroupCommit(event_base* base, store::Engine& engine, bus::Bus& bus,
                         obs::Registry& registry, bool sync)
    : engine_(engine),
      bus_(bus),
      sync_(sync),
      commits_(registry.counter("chat_stored_commits_total",
                                "WriteBatches written (writes_total / commits_total is the mean "
                                "group-commit batch size)")),
      commit_failures_(registry.counter("chat_stored_commit_failures_total",
                                        "WriteBatches RocksDB refused (each caller got 500)")),
      commit_seconds_(registry.histogram(
          "chat_stored_commit_seconds", "Time to write (and fsync) one group-commit batch",
          {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1})),
      batch_size_(registry.histogram("chat_stored_commit_batch_requests",
                                     "Write requests answered by one commit",
                                     {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})) {
  commit_ev_ = event_new(base, -1, 0, &GroupCommit::on_commit, this);
}

GroupCommit::~GroupCommit() {
  if (commit_ev_) event_free(commit_ev_);
}

void GroupCommit::defer(std::string reply_subject, proto::StoreReply reply) {
  held_.push_back(Held{std::move(reply_subject), std::move(reply)});
  if (!scheduled_) {
    scheduled_ = true;
    event_active(commit_ev_, EV_TIMEOUT, 0);
  }
}

void GroupCommit::on_commit(evutil_socket_t, short, void* arg) {
  static_cast<GroupCommit*>(arg)->flush();
}

void GroupCommit::flush() {
  scheduled_ = false;
  if (held_.empty() && engine_.staged() == 0) return;
  auto start = std::chrono::steady_clock::now();
  store::Status s = engine_.commit(sync_);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  commits_.inc();
  commit_seconds_.observe(seconds);
  batch_size_.observe(static_cast<double>(held_.size()));
  if (!s.is_ok()) {
    commit_failures_.inc();
    log::err("store", "commit failed", {{"requests", held_.size()}, {"error", s.message()}});
  }
  std::vector<Held> batch;
  batch.swap(held_);
  for (auto& h : batch) {
    if (!s.is_ok()) {
      h.reply = proto::StoreReply{};
      h.reply.status = 500;
      h.reply.error = s.message();
    }
    if (!h.reply_subject.empty()) bus_.publish(h.reply_subject, proto::pack(h.reply));
  }
}

}  // namespace chat::stored
