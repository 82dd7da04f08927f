// Local fan-out of one loop (ARCHITECTURE.md "A message's journey", step 5). The loop's
// bus connection subscribes to chat.evt.guild.<G> once while any of its sessions is in
// G, and to chat.evt.user.<U> once while any of its sessions is user U (refcounted by
// the member lists). An event is decoded once, its `d` encoded once per variant (full,
// and without message content for sessions lacking MESSAGE_CONTENT), and each session
// whose intents allow it gets the shared frame with its own sequence number.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/proto/ops.hpp"

namespace chat::gateway {

class Session;
class Worker;

class Fanout {
 public:
  explicit Fanout(Worker& worker) : worker_(worker) {}
  ~Fanout();
  Fanout(const Fanout&) = delete;
  Fanout& operator=(const Fanout&) = delete;

  void join_guild(uint64_t guild_id, Session* s);
  void leave_guild(uint64_t guild_id, Session* s);
  void join_user(uint64_t user_id, Session* s);
  void leave_user(uint64_t user_id, Session* s);
  size_t guild_subscriptions() const { return guilds_.size(); }
  size_t user_subscriptions() const { return users_.size(); }

  // Delivers a decoded event to `targets` (exposed for tests of the filtering).
  void deliver(const proto::Event& ev, const std::vector<Session*>& targets);

 private:
  struct Group {
    uint64_t sub = 0;
    std::vector<Session*> sessions;
  };
  void join(std::unordered_map<uint64_t, Group>& map, uint64_t key, Session* s, bool user);
  void leave(std::unordered_map<uint64_t, Group>& map, uint64_t key, Session* s);
  void on_event(bool user_subject, uint64_t key, bus::Message& msg);
  void on_user_guild_change(const proto::Event& ev, uint64_t user_id);

  Worker& worker_;
  std::unordered_map<uint64_t, Group> guilds_;
  std::unordered_map<uint64_t, Group> users_;
  std::vector<Session*> snapshot_;  // targets of the event being delivered
};

}  // namespace chat::gateway
