// See dir_sync.hpp.
#include "dir_sync.hpp"

#include <unistd.h>

#include <random>

#include "chat/obs/log.hpp"
#include "chat/proto/subjects.hpp"

namespace chat::guildd {

DirSync::DirSync(bus::Bus& bus, Directory& dir, obs::Registry& metrics) : bus_(bus), dir_(dir) {
  std::random_device rd;
  char buf[48];
  std::snprintf(buf, sizeof buf, "guildd-%d-%08x%08x", static_cast<int>(getpid()), rd(), rd());
  origin_ = buf;
  published_ = &metrics.counter("chat_guildd_dir_changes_published_total",
                                "Directory writes of ours published on chat.dir.changed.");
  applied_ = &metrics.counter("chat_guildd_dir_changes_applied_total",
                              "Directory writes of other guildd instances applied.");
  bad_ = &metrics.counter("chat_guildd_dir_changes_bad_total",
                          "chat.dir.changed events or records dropped as undecodable.");
}

bool DirSync::start(event_base* base, std::function<void()> on_live) {
  if (!bus_.subscribe(subjects::kDirChanged, [this](bus::Message& m) { on_event(m); }))
    return false;
  return live_.start(base, bus_, "_guildd.dirsync." + origin_, "guild",
                     "directory feed not confirmed yet; asking again", std::move(on_live));
}

void DirSync::release(std::function<void()> on_applied) {
  on_applied_ = std::move(on_applied);
  holding_ = false;
  if (!held_.empty())
    log::info("guild", "applying directory changes held during the load",
              {{"events", held_.size()}});
  for (const proto::DirChanged& e : held_) apply(e);
  held_.clear();
  if (on_applied_) on_applied_();
}

void DirSync::publish(const std::vector<proto::DirEntry>& puts,
                      const std::vector<std::string>& dels) {
  proto::DirChanged e;
  e.origin = origin_;
  e.puts = puts;
  e.dels = dels;
  if (bus_.publish(subjects::kDirChanged, proto::pack(e))) published_->inc();
}

void DirSync::on_event(bus::Message& m) {
  proto::DirChanged e;
  std::string why;
  if (!proto::unpack(m.data, e, &why) || e.v > proto::kSchemaVersion) {
    bad_->inc();
    log::warn("guild", "malformed directory change", {{"error", why}});
    return;
  }
  if (e.origin == origin_) return;  // ours, already applied
  if (holding_) {
    held_.push_back(std::move(e));
    return;
  }
  apply(e);
  if (on_applied_) on_applied_();
}

void DirSync::apply(const proto::DirChanged& e) {
  std::string why;
  for (const proto::DirEntry& p : e.puts) {
    if (!dir_.load(p, why)) {
      bad_->inc();
      log::warn("guild", "skipping bad directory record", {{"from", e.origin}, {"error", why}});
    }
  }
  for (const std::string& key : e.dels) {
    if (!dir_.remove(key, why)) {
      bad_->inc();
      log::warn("guild", "skipping bad directory key", {{"from", e.origin}, {"error", why}});
    }
  }
  applied_->inc();
  log::debug("guild", "directory change applied",
             {{"from", e.origin}, {"puts", e.puts.size()}, {"dels", e.dels.size()}});
}

}  // namespace chat::guildd
