// See store_client.hpp.
#include "store_client.hpp"

#include "chat/obs/log.hpp"
#include "chat/proto/subjects.hpp"

namespace chat::guildd {

void StoreClient::call_for_channel(uint64_t channel_id, const proto::StoreRequest& req, Done done) {
  call(subjects::store(subjects::shard_of(channel_id, shards_)), req, std::move(done));
}

void StoreClient::call_directory(const proto::StoreRequest& req, Done done) {
  call(subjects::store(0), req, std::move(done));
}

void StoreClient::call(const std::string& subject, const proto::StoreRequest& req, Done done) {
  std::string op = req.op;
  bus_.request(subject, proto::pack(req), timeout_ms_,
               [done = std::move(done), op, subject](bus::Status s, bus::Message& m) {
                 StoreResult r;
                 if (s != bus::Status::ok) {
                   r.unavailable = true;
                   r.status = 503;
                   r.error = std::string("storage unavailable: ") + bus::to_string(s);
                   log::warn("guild", "store request failed",
                             {{"op", op}, {"subject", subject}, {"status", bus::to_string(s)}});
                   done(r);
                   return;
                 }
                 std::string why;
                 if (!proto::unpack(m.data, r.reply, &why) || r.reply.v > proto::kSchemaVersion) {
                   r.unavailable = true;
                   r.status = 503;
                   r.error = "storage answered with an unreadable reply";
                   log::err("guild", "bad store reply", {{"op", op}, {"error", why}});
                   done(r);
                   return;
                 }
                 r.status = r.reply.status;
                 r.ok = r.reply.status == 200;
                 r.error = r.reply.error;
                 if (!r.ok && r.status != 404)
                   log::warn("guild", "store refused",
                             {{"op", op}, {"status", r.status}, {"error", r.error}});
                 done(r);
               });
}

}  // namespace chat::guildd
