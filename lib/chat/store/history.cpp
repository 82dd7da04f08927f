// See history.hpp.
#include "chat/store/history.hpp"

#include <rocksdb/iterator.h>

#include <algorithm>

#include "chat/obs/log.hpp"

namespace chat::store {
namespace {

uint64_t id_of(const rocksdb::Iterator& it) {
  MessageKey k;
  if (!decode_message_key(std::string_view(it.key().data(), it.key().size()), k)) return 0;
  return k.message_id;
}

// Appends the message under the iterator to `out`; false (logged) when it does not decode.
bool take(const rocksdb::Iterator& it, std::vector<proto::Message>& out) {
  proto::Message m;
  std::string error;
  if (!proto::unpack(std::string_view(it.value().data(), it.value().size()), m, &error)) {
    log::err("store", "stored message does not decode",
             {{"message_id", id_of(it)}, {"error", error}});
    return false;
  }
  out.push_back(std::move(m));
  return true;
}

// Walks backwards from the iterator's position while fewer than `want` are collected.
void collect_backward(rocksdb::Iterator& it, size_t want, std::vector<proto::Message>& out) {
  size_t start = out.size();
  for (; it.Valid() && out.size() - start < want; it.Prev()) take(it, out);
}

// Walks forwards likewise.
void collect_forward(rocksdb::Iterator& it, size_t want, std::vector<proto::Message>& out) {
  size_t start = out.size();
  for (; it.Valid() && out.size() - start < want; it.Next()) take(it, out);
}

}  // namespace

Status page_messages(Engine& engine, const PageQuery& q, std::vector<proto::Message>& out) {
  out.clear();
  if (q.channel_id == 0) return Status::bad_request("channel_id is required");
  if (q.limit < 1 || q.limit > kMaxPageLimit)
    return Status::bad_request("limit must be 1.." + std::to_string(kMaxPageLimit));
  if ((q.before != 0) + (q.after != 0) + (q.around != 0) > 1)
    return Status::bad_request("before, after and around are mutually exclusive");

  const uint64_t ch = q.channel_id;
  const auto limit = static_cast<size_t>(q.limit);
  auto cursor = engine.messages(channel_begin(ch), channel_end(ch));
  rocksdb::Iterator& it = cursor->it();

  if (q.before != 0) {
    it.SeekForPrev(message_key(ch, q.before, engine.bucket_ms()));
    if (it.Valid() && id_of(it) >= q.before) it.Prev();
    collect_backward(it, limit, out);
  } else if (q.after != 0) {
    it.Seek(message_key(ch, q.after, engine.bucket_ms()));
    if (it.Valid() && id_of(it) <= q.after) it.Next();
    collect_forward(it, limit, out);
    std::reverse(out.begin(), out.end());
  } else if (q.around != 0) {
    const std::string pivot = message_key(ch, q.around, engine.bucket_ms());
    const size_t newer = std::max<size_t>(1, limit / 2);  // X and newer
    const size_t older = limit - newer;
    it.Seek(pivot);
    collect_forward(it, newer, out);
    std::reverse(out.begin(), out.end());
    if (older > 0) {
      it.SeekForPrev(pivot);
      if (it.Valid() && id_of(it) >= q.around) it.Prev();
      collect_backward(it, older, out);
    }
  } else {
    it.SeekForPrev(channel_last(ch));
    collect_backward(it, limit, out);
  }
  if (!it.status().ok()) return Status::io_error("reading history: " + it.status().ToString());
  return Status::ok();
}

}  // namespace chat::store
