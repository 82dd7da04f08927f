// See request_handler.hpp.
#include "chat/store/request_handler.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "chat/store/history.hpp"
#include "chat/store/retention.hpp"

namespace chat::store {
namespace {

constexpr Handled kRead{Disposition::reply_now, false};
constexpr Handled kWriteNow{Disposition::reply_now, true};
constexpr Handled kWriteLater{Disposition::reply_after_commit, true};

// Sets the reply from a failed status: 400, 404 or 500.
void fail(proto::StoreReply& reply, const Status& s) {
  switch (s.code()) {
    case Status::Code::bad_request:
      reply.status = 400;
      break;
    case Status::Code::not_found:
      reply.status = 404;
      break;
    case Status::Code::already_exists:
      reply.status = 409;
      break;
    case Status::Code::busy:
      reply.status = 503;
      break;
    default:
      reply.status = 500;
      break;
  }
  reply.error = s.message();
}

Handled bad(proto::StoreReply& reply, std::string why, bool write) {
  reply.status = 400;
  reply.error = std::move(why);
  return {Disposition::reply_now, write};
}

}  // namespace

bool decode_request(std::string_view bytes, proto::StoreRequest& out, std::string& error) {
  if (bytes.empty()) {
    error = "empty body";
    return false;
  }
  try {
    // Bounded: a truncated or hostile body cannot make the unpacker allocate much.
    msgpack::unpack_limit limits(/*array=*/100000, /*map=*/1000, /*str=*/8 << 20,
                                 /*bin=*/8 << 20, /*ext=*/1 << 20, /*depth=*/16);
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

Handled RequestHandler::handle(const proto::StoreRequest& r, proto::StoreReply& reply) {
  reply = proto::StoreReply{};
  const std::string& op = r.op;
  if (op == "msg.append") return append(r, reply);
  if (op == "msg.page") return page(r, reply);
  if (op == "msg.get") return get(r, reply);
  if (op == "msg.put") return put(r, reply);
  if (op == "msg.delete") return remove(r, reply);
  if (op == "dir.put") return dir_put(r, reply);
  if (op == "dir.del") return dir_del(r, reply);
  if (op == "dir.get") return dir_get(r, reply);
  if (op == "dir.scan") return dir_scan(r, reply);
  if (op == "stats") return stats(r, reply);
  if (op == "retention.set") return retention_set(r, reply);
  if (op == "retention.get") return retention_get(r, reply);
  return bad(reply, "unknown op \"" + op.substr(0, 64) + "\"", false);
}

Handled RequestHandler::append(const proto::StoreRequest& r, proto::StoreReply& reply) {
  if (r.messages.empty() || r.messages.size() > kMaxItemsPerWrite)
    return bad(reply, "messages must hold 1..1000 messages", true);
  for (const auto& m : r.messages)
    if (m.id == 0 || m.channel_id == 0)
      return bad(reply, "every message needs a non-zero id and channel_id", true);
  for (const auto& m : r.messages) engine_.stage_message(m);
  reply.count = r.messages.size();
  return kWriteLater;
}

Handled RequestHandler::page(const proto::StoreRequest& r, proto::StoreReply& reply) {
  PageQuery q;
  q.channel_id = r.channel_id;
  q.before = r.before;
  q.after = r.after;
  q.around = r.around;
  q.limit = r.limit;
  Status s = page_messages(engine_, q, reply.messages);
  if (!s.is_ok()) fail(reply, s);
  return kRead;
}

Handled RequestHandler::get(const proto::StoreRequest& r, proto::StoreReply& reply) {
  if (r.channel_id == 0 || r.message_id == 0)
    return bad(reply, "channel_id and message_id are required", false);
  proto::Message m;
  Status s = engine_.get_message(r.channel_id, r.message_id, m);
  if (!s.is_ok()) {
    fail(reply, s.is_not_found() ? Status::not_found("unknown message") : s);
    return kRead;
  }
  reply.messages.push_back(std::move(m));
  return kRead;
}

Handled RequestHandler::put(const proto::StoreRequest& r, proto::StoreReply& reply) {
  if (r.messages.size() != 1) return bad(reply, "msg.put takes exactly one message", true);
  const proto::Message& m = r.messages[0];
  if (m.id == 0 || m.channel_id == 0)
    return bad(reply, "the message needs a non-zero id and channel_id", true);
  Status s = engine_.stage_edit(m);
  if (!s.is_ok()) {
    fail(reply, s);
    return kWriteNow;
  }
  reply.messages.push_back(m);
  return kWriteLater;
}

Handled RequestHandler::remove(const proto::StoreRequest& r, proto::StoreReply& reply) {
  if (r.channel_id == 0) return bad(reply, "channel_id is required", true);
  if (r.ids.empty() || r.ids.size() > kMaxItemsPerWrite)
    return bad(reply, "ids must hold 1..1000 ids", true);
  for (uint64_t id : r.ids)
    if (id == 0) return bad(reply, "ids must be non-zero", true);
  reply.count = engine_.stage_delete(r.channel_id, r.ids);
  return reply.count > 0 ? kWriteLater : kWriteNow;
}

Handled RequestHandler::dir_put(const proto::StoreRequest& r, proto::StoreReply& reply) {
  if (r.entries.empty() || r.entries.size() > kMaxItemsPerWrite)
    return bad(reply, "entries must hold 1..1000 entries", true);
  for (const auto& e : r.entries)
    if (e.key.empty()) return bad(reply, "directory keys must not be empty", true);
  for (const auto& e : r.entries) engine_.stage_dir_put(e.key, e.value);
  reply.count = r.entries.size();
  return kWriteLater;
}

Handled RequestHandler::dir_del(const proto::StoreRequest& r, proto::StoreReply& reply) {
  if (r.keys.empty() || r.keys.size() > kMaxItemsPerWrite)
    return bad(reply, "keys must hold 1..1000 keys", true);
  for (const auto& k : r.keys)
    if (k.empty()) return bad(reply, "directory keys must not be empty", true);
  for (const auto& k : r.keys) engine_.stage_dir_del(k);
  reply.count = r.keys.size();
  return kWriteLater;
}

Handled RequestHandler::dir_get(const proto::StoreRequest& r, proto::StoreReply& reply) {
  if (r.keys.empty() || r.keys[0].empty()) return bad(reply, "keys[0] is required", false);
  std::string value;
  Status s = engine_.get_dir(r.keys[0], value);
  if (!s.is_ok()) {
    fail(reply, s);
    return kRead;
  }
  reply.entries.push_back(proto::DirEntry{r.keys[0], std::move(value)});
  return kRead;
}

Handled RequestHandler::dir_scan(const proto::StoreRequest& r, proto::StoreReply& reply) {
  if (r.limit < 0) return bad(reply, "limit must be >= 0 (0 = a full page)", false);
  size_t limit =
      r.limit == 0 ? kMaxScanEntries : std::min(static_cast<size_t>(r.limit), kMaxScanEntries);
  Status s = engine_.scan_dir_page(r.prefix, r.start_after, limit, kMaxScanBytes, reply.entries,
                                   reply.more);
  if (!s.is_ok()) {
    fail(reply, s);
    reply.entries.clear();
    reply.more = false;
  }
  return kRead;
}

Handled RequestHandler::stats(const proto::StoreRequest& r, proto::StoreReply& reply) {
  reply.text = engine_.stats_json(r.channel_id);
  return kRead;
}

}  // namespace chat::store

namespace chat::store {

Handled RequestHandler::retention_set(const proto::StoreRequest& r, proto::StoreReply& reply) {
  Status s = stage_retention_set(engine_, r.guild_id, r.channel_id, r.ids, r.days);
  if (!s.is_ok()) {
    fail(reply, s);
    return kWriteNow;
  }
  return kWriteLater;
}

Handled RequestHandler::retention_get(const proto::StoreRequest& r, proto::StoreReply& reply) {
  if ((r.guild_id != 0) == (r.channel_id != 0))
    return bad(reply, "retention.get takes either channel_id or guild_id", false);
  nlohmann::json j;
  if (r.channel_id != 0) {
    int days = 0;
    Status s = channel_retention(engine_, r.channel_id, days);
    if (!s.is_ok()) {
      fail(reply, s);
      return kRead;
    }
    j["channel_id"] = std::to_string(r.channel_id);
    j["days"] = days;
  } else {
    int days = 0;
    std::vector<uint64_t> channels;
    Status s = guild_retention(engine_, r.guild_id, days, channels);
    if (!s.is_ok()) {
      fail(reply, s);
      return kRead;
    }
    j["guild_id"] = std::to_string(r.guild_id);
    j["days"] = days;
    auto& list = j["channels"] = nlohmann::json::array();
    for (uint64_t c : channels) list.push_back(std::to_string(c));
  }
  reply.text = j.dump();
  return kRead;
}

}  // namespace chat::store
