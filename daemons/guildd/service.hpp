// The chat.guild.<shard> request handler: decodes each GuildRequest, authenticates its
// token against the directory, dispatches the op, and answers one GuildReply. Everything
// runs on the loop thread, which makes this the sequencer of every write:
//
//  - message writes are validated against the in-memory directory, given their snowflake
//    and sent to stored in arrival order; stored answers them in order, and events are
//    published from those answers, so a channel's events go out in id order;
//  - directory writes go through a queue, one at a time: each is validated against the
//    directory at its turn, persisted with dir.put/dir.del, applied to memory only once
//    stored confirmed, then answered and published. Nothing is acknowledged or published
//    that stored did not confirm; a bus failure on the way is a 503. The durable write is
//    also published on chat.dir.changed (DirSync) before the answer goes out, so guildd
//    instances owning other shard ranges apply it too.
//
// With several instances, each serves its guild.shard_range only: the messages of one
// channel are sequenced by the one instance owning the channel's shard.
//
// The op handlers live in message_ops.cpp, guild_ops.cpp and user_ops.cpp.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/bus/live_probe.hpp"
#include "chat/config/config.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/proto/ops.hpp"
#include "chat/proto/snowflake.hpp"
#include "dir_sync.hpp"
#include "directory.hpp"
#include "store_client.hpp"
#include "validation.hpp"

namespace chat::guildd {

class Service;

// One request being served. Answered exactly once: reply() or fail(); if the last owner
// drops it unanswered (a bug), the destructor answers 500 so the caller never hangs.
struct Call {
  Service* service = nullptr;
  bus::Message msg;
  proto::GuildRequest req;
  proto::User caller;  // a copy: the directory may change while the call waits on stored
  bool answered = false;

  void reply(proto::GuildReply& r);
  void reply_empty();  // 204
  void fail(int status, int code, std::string message, std::string errors = {});
  void fail(const Rejection& r) { fail(r.status, r.code, r.message, r.errors); }
  ~Call();
};
using CallPtr = std::shared_ptr<Call>;

// Who a channel's events go to: its guild's subject, or each DM recipient's.
struct Audience {
  uint64_t guild_id = 0;
  std::vector<uint64_t> recipients;
};

// A directory write: records to put or keys to delete (never both: each op's change is
// one atomic stored request), what to do to memory once durable, and what to answer and
// publish after that.
struct DirChange {
  CallPtr call;
  std::vector<proto::DirEntry> puts;
  std::vector<std::string> dels;
  std::function<void()> apply;
  std::function<void()> finish;
};

class Service {
 public:
  Service(bus::Bus& bus, StoreClient& store, Directory& dir, DirSync& sync, SnowflakeGenerator& ids,
          obs::Registry& metrics, ShardRange range);

  // Subscribes chat.guild.<first..last> of the range in queue group "guildd" (instances
  // whose ranges overlap share the overlap's requests). False if any failed.
  // `on_live` runs once the server has the subscriptions (a request to a probe subject
  // of our own came back: the server handles a connection's protocol in order), so
  // READY=1 is never sent before requests can reach us.
  bool start(event_base* base, std::function<void()> on_live);
  // Stops taking requests (unsubscribes); in-flight calls still finish.
  void stop_taking();
  // Calls not yet answered plus directory writes not yet finished.
  size_t in_flight() const { return in_flight_ + writes_.size() + (writing_ ? 1 : 0); }
  void update_gauges();
  // Before the bus goes away: calls still owned by pending bus requests are then dropped
  // silently when freed instead of answering through a bus being destroyed.
  void detach() { detached_ = true; }

 private:
  friend struct Call;
  using Handler = void (Service::*)(const CallPtr&);
  using WriteJob = std::function<std::optional<DirChange>()>;

  void on_request(bus::Message& m);
  void answered(const Call& c, int status);

  // Directory write sequencing (service.cpp).
  void sequence(WriteJob job);
  void pump();
  void commit(DirChange change);
  void commit_dels(std::shared_ptr<DirChange> change);
  void finish_change(const std::shared_ptr<DirChange>& change);

  // Shared checks: each either returns the record or fails the call and returns null.
  const proto::Channel* readable_channel(const CallPtr& c, uint64_t channel_id);
  const proto::Guild* visible_guild(const CallPtr& c, uint64_t guild_id);
  bool manages(const proto::User& u, const proto::Guild& g) const {
    return u.admin || g.owner_id == u.id;
  }
  static Audience audience_of(const proto::Channel& ch);
  void publish(const Audience& to, const proto::Event& e);
  void publish_guild(uint64_t guild_id, const proto::Event& e);
  void publish_user(uint64_t user_id, const proto::Event& e);
  void fail_store(const CallPtr& c, const StoreResult& r, int not_found_code);
  proto::Member new_member(uint64_t guild_id, const proto::User& u);
  std::vector<uint64_t> known_mentions(const std::string& content) const;
  // DM channels in a reply come with their recipients in `users` (names for the JSON).
  void add_recipients(proto::GuildReply& r, const proto::Channel& ch) const;

  // message_ops.cpp
  void op_msg_create(const CallPtr& c);
  void op_msg_list(const CallPtr& c);
  void op_msg_get(const CallPtr& c);
  void op_msg_edit(const CallPtr& c);
  void op_msg_delete(const CallPtr& c);
  void op_msg_bulk_delete(const CallPtr& c);
  void op_typing(const CallPtr& c);
  // guild_ops.cpp
  void op_guild_create(const CallPtr& c);
  void op_guild_get(const CallPtr& c);
  void op_guild_patch(const CallPtr& c);
  void op_guild_delete(const CallPtr& c);
  void op_guild_list(const CallPtr& c);
  void op_channel_create(const CallPtr& c);
  void op_channel_get(const CallPtr& c);
  void op_channel_patch(const CallPtr& c);
  void op_channel_delete(const CallPtr& c);
  void op_channel_list(const CallPtr& c);
  void op_member_list(const CallPtr& c);
  void op_member_get(const CallPtr& c);
  void op_member_add(const CallPtr& c);
  void op_member_remove(const CallPtr& c);
  void op_member_search(const CallPtr& c);
  // user_ops.cpp
  void op_auth(const CallPtr& c);
  void op_guilds_mine(const CallPtr& c);
  void op_user_get(const CallPtr& c);
  void op_user_find(const CallPtr& c);
  void op_user_create(const CallPtr& c);
  void op_user_list(const CallPtr& c);
  void op_token_create(const CallPtr& c);
  void op_token_revoke(const CallPtr& c);
  void op_dm_open(const CallPtr& c);

  struct OpEntry {
    Handler handler;
    bool admin_only;
    obs::Counter* requests;
  };

  bool detached_ = false;  // first member: the last one destroyed
  bus::Bus& bus_;
  StoreClient& store_;
  Directory& dir_;
  DirSync& sync_;
  SnowflakeGenerator& ids_;
  ShardRange range_;
  std::map<std::string, OpEntry, std::less<>> ops_;
  obs::Counter* unknown_requests_;
  obs::Counter* errors_;
  obs::Gauge* users_gauge_;
  obs::Gauge* guilds_gauge_;
  obs::Gauge* channels_gauge_;
  std::vector<uint64_t> subs_;
  bus::LiveProbe live_;
  size_t in_flight_ = 0;
  std::deque<WriteJob> writes_;
  bool writing_ = false;
};

}  // namespace chat::guildd
