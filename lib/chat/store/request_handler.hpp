// The StoreRequest ops of lib/chat/proto/ops.hpp on top of the Engine, without the bus: it
// decodes and checks a request, runs reads at once, and stages writes for the caller's
// next group commit. stored's service owns the bus side and the commit; unit tests drive
// this class directly.
//
// op          reads                          answer
// msg.append  messages (1..1000, ids != 0)   200 after commit, count = messages stored
// msg.page    channel_id, before|after|      200 messages newest first (history.hpp)
//             around, limit (1..100)
// msg.get     channel_id, message_id         200 messages[0], or 404
// msg.put     messages[0]                    200 messages[0] after commit, or 404 at once
// msg.delete  channel_id, ids (1..1000)      200 count = how many existed (after commit
//                                            when any did)
// dir.put     entries (1..1000, key != "")   200 after commit
// dir.del     keys (1..1000, key != "")      200 after commit, count = keys given
// dir.get     keys[0]                        200 entries[0], or 404
// dir.scan    prefix, limit (0 = a full      200 entries in key order, one page: at most
//             page), start_after             kMaxScanEntries and kMaxScanBytes of keys and
//                                            values; more = entries remain after the last
// stats       channel_id (0 = all)           200 text (JSON)
// retention.set  channel_id | guild_id + ids, 200 after commit (retention.hpp)
//             days
// retention.get  channel_id | guild_id        200 text (JSON)
// Anything malformed is 400 with an error text; a storage failure 500.
#pragma once

#include <string>
#include <string_view>

#include "chat/proto/ops.hpp"
#include "chat/store/engine.hpp"

namespace chat::store {

inline constexpr size_t kMaxItemsPerWrite = 1000;
// dir.scan page bounds. Each entry costs up to ~24 bytes of msgpack framing on top of its
// key and value, so a full page stays well under NATS's default 1 MiB max payload.
inline constexpr size_t kMaxScanEntries = 8192;
inline constexpr size_t kMaxScanBytes = 512 * 1024;

enum class Disposition {
  reply_now,           // the reply is final
  reply_after_commit,  // writes were staged: answer after the commit (500 if it fails)
};

struct Handled {
  Disposition when = Disposition::reply_now;
  bool write = false;  // the op is a write (whether or not it staged anything)
};

// Decodes a bus body into a request, with bounded sizes; false with a reason on truncated
// or mistyped msgpack and on a schema version newer than ours.
bool decode_request(std::string_view bytes, proto::StoreRequest& out, std::string& error);

class RequestHandler {
 public:
  explicit RequestHandler(Engine& engine) : engine_(engine) {}
  Handled handle(const proto::StoreRequest& request, proto::StoreReply& reply);

 private:
  Handled append(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled page(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled get(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled put(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled remove(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled dir_put(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled dir_del(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled dir_get(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled dir_scan(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled stats(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled retention_set(const proto::StoreRequest& r, proto::StoreReply& reply);
  Handled retention_get(const proto::StoreRequest& r, proto::StoreReply& reply);

  Engine& engine_;
};

}  // namespace chat::store
