// op 8 REQUEST_GUILD_MEMBERS for Session (session.hpp): GUILD_MEMBERS_CHUNK dispatches
// by user_ids (with not_found), by name prefix (query), or for the whole member list
// (query "", limit 0: Discord's "all members"), which is paged from guildd's member.list
// one page of 1000 at a time: chunk_count is fixed at the first page from the guild's
// member_count, the next page is asked only once the previous chunk went out and the
// client has read most of what is queued. The session is looked up by id in every
// callback: one that is gone stops the paging; one that is detached (its connection
// dropped, a RESUME may come) parks it, and a RESUME carries it on after RESUMED, from
// the chunk after the last one dispatched (those are replayed). Presences, when asked and
// allowed, come from PresenceClient::member_chunk.
#include "session.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <memory>

#include "chat/obs/log.hpp"
#include "chat/proto/discord_json.hpp"
#include "chat/proto/snowflake.hpp"
#include "json_text.hpp"
#include "presence_client.hpp"
#include "worker.hpp"

namespace chat::gateway {
namespace {

using Json = nlohmann::json;

constexpr uint64_t kChunkMembers = 1000;  // Discord's chunk size, and guildd's page bound
// guilds.mine lists every member of a guild some threshold calls "not large".
static_assert(proto::kFullMemberListMax >= proto::kLargeThresholdMax);
constexpr size_t kMaxUserIds = 100;  // Discord's bound on op 8's user_ids

Json members_chunk(uint64_t guild_id, Json members, uint32_t index, uint32_t count, Json not_found,
                   const Json& nonce) {
  Json chunk = {{"guild_id", proto::id_string(guild_id)},
                {"members", std::move(members)},
                {"chunk_index", index},
                {"chunk_count", count},
                {"not_found", std::move(not_found)},
                {"presences", Json::array()}};
  if (nonce.is_string()) chunk["nonce"] = nonce;
  return chunk;
}

}  // namespace

// One op 8 for every member (query "" with limit 0, or the first `limit`): chunks of up to
// kChunkMembers, in user id order, chunk_count fixed at the first page from the guild's
// member_count. Members that join meanwhile past the last chunk promised are not sent
// (GUILD_MEMBER_ADD tells the client); members that leave shorten a chunk, and the chunks
// still owed at the end go out empty, so the last always says index + 1 == count.
struct Session::MemberPaging {
  uint64_t guild_id = 0;
  uint64_t after = 0;  // the last user id sent: the next page starts after it
  uint64_t left = 0;   // members still wanted
  uint64_t sent = 0;
  uint64_t started_ms = 0;
  uint32_t index = 0;  // the next chunk_index
  uint32_t count = 0;  // chunk_count; 0 until the first page
  uint64_t asked = 0;  // the size of the page in flight
  bool presences = false;
  bool parked_last = false;  // parked after the last page: only empty chunks are owed
  Json nonce;
};

void Session::handle_request_members(const Json& d) {
  uint64_t guild_id = 0;
  if (!d.is_object() || !json_id(d.value("guild_id", Json()), guild_id))
    return close(4002, "decode error", true);
  if (!in_guild(guild_id)) return;
  std::string query = d.value("query", Json("")).is_string() ? d.value("query", "") : "";
  int64_t limit = d.value("limit", Json(0)).is_number_integer() ? d.value("limit", 0) : 0;
  std::vector<uint64_t> wanted;
  if (auto it = d.find("user_ids"); it != d.end()) {
    uint64_t one = 0;
    if (it->is_array()) {
      for (const Json& v : *it)
        if (json_id(v, one) && wanted.size() < kMaxUserIds &&
            std::find(wanted.begin(), wanted.end(), one) == wanted.end())
          wanted.push_back(one);
    } else if (json_id(*it, one)) {
      wanted.push_back(one);
    }
  }
  Json nonce = d.value("nonce", Json());
  bool presences = d.value("presences", Json(false)).is_boolean() && d.value("presences", false);

  if (wanted.empty() && query.empty()) {  // the whole member list (or its first `limit`)
    auto p = std::make_shared<MemberPaging>();
    p->guild_id = guild_id;
    p->left = limit <= 0 ? UINT64_MAX : static_cast<uint64_t>(limit);
    p->started_ms = worker_.now_ms();
    p->presences = presences;
    p->nonce = std::move(nonce);
    return request_member_page(p);
  }

  // One chunk: the members among user_ids (the rest in not_found), or those whose name
  // starts with query.
  proto::GuildRequest req;
  req.token = token_;
  req.guild_id = guild_id;
  req.limit = static_cast<int>(limit <= 0 || limit > 1000 ? 1000 : limit);
  if (!wanted.empty()) {
    req.op = "member.list";
    req.ids = wanted;
    req.limit = static_cast<int>(kChunkMembers);
  } else {
    req.op = "member.search";
    req.name = query;
  }
  Worker* w = &worker_;
  uint64_t sid = id_;
  worker_.guild_request(
      req, [w, sid, guild_id, wanted, nonce, presences](bus::Status, proto::GuildReply& reply) {
        Session* s = w->find(sid);
        if (!s || s->state_ != State::ready) return;
        Json members = Json::array();
        Json not_found = Json::array();
        std::vector<uint64_t> ids;
        for (const proto::Member& m : reply.members) {
          bool asked =
              wanted.empty() || std::find(wanted.begin(), wanted.end(), m.user_id) != wanted.end();
          if (!asked || std::find(ids.begin(), ids.end(), m.user_id) != ids.end()) continue;
          members.push_back(proto::member_json(m));
          ids.push_back(m.user_id);
        }
        for (uint64_t u : wanted)
          if (std::find(ids.begin(), ids.end(), u) == ids.end())
            not_found.push_back(proto::id_string(u));
        Json chunk = members_chunk(guild_id, std::move(members), 0, 1, std::move(not_found), nonce);
        w->presence().member_chunk(*s, guild_id, std::move(chunk), presences, std::move(ids));
      });
}

void Session::request_member_page(const std::shared_ptr<MemberPaging>& p) {
  proto::GuildRequest req;
  req.op = "member.list";
  req.token = token_;
  req.guild_id = p->guild_id;
  req.after = p->after;
  p->asked = std::min(kChunkMembers, p->left);
  req.limit = static_cast<int>(p->asked);
  Worker* w = &worker_;
  uint64_t sid = id_;
  worker_.guild_request(req, [w, sid, p](bus::Status, proto::GuildReply& reply) {
    Session* s = w->find(sid);  // a session closed meanwhile stops the paging here
    if (!s) return;
    if (s->state_ == State::ready) return s->on_member_page(p, reply);
    // Detached: the page is dropped (p->after has not moved) and asked again on RESUME.
    s->park_member_paging(p, false);
  });
}

void Session::on_member_page(const std::shared_ptr<MemberPaging>& p,
                             const proto::GuildReply& reply) {
  if (reply.status != 200) {
    log::warn("ws", "member chunking failed",
              {{"session", hex_id(id_)},
               {"guild", p->guild_id},
               {"chunk", p->index},
               {"status", reply.status},
               {"message", reply.message}});
    if (p->count == 0) p->count = 1;
    return finish_member_paging(p);  // the client waits for the last chunk: it gets it
  }
  const std::vector<proto::Member>& page = reply.members;
  if (p->count == 0) {
    uint64_t total = !reply.guilds.empty() && reply.guilds[0].member_count
                         ? reply.guilds[0].member_count
                         : page.size() + (page.size() >= p->asked ? 1 : 0);  // older guildd
    total = std::min(total, p->left);
    p->count =
        static_cast<uint32_t>(std::max<uint64_t>(1, (total + kChunkMembers - 1) / kChunkMembers));
  }
  size_t take = static_cast<size_t>(std::min<uint64_t>(page.size(), p->left));
  Json members = Json::array();
  std::vector<uint64_t> ids;
  ids.reserve(take);
  for (size_t i = 0; i < take; ++i) {
    members.push_back(proto::member_json(page[i]));
    ids.push_back(page[i].user_id);
  }
  if (take) p->after = page[take - 1].user_id;
  p->left -= take;
  p->sent += take;
  bool last = p->index + 1 >= p->count || page.size() < p->asked || p->left == 0;
  Json chunk =
      members_chunk(p->guild_id, std::move(members), p->index++, p->count, Json::array(), p->nonce);
  Worker* w = &worker_;
  uint64_t sid = id_;
  worker_.presence().member_chunk(*this, p->guild_id, std::move(chunk), p->presences,
                                  std::move(ids), [w, sid, p, last] {
                                    Session* s = w->find(sid);
                                    if (s && s->state_ == State::ready)
                                      s->member_page_sent(p, last);
                                    else if (s)  // the chunk is in the replay buffer
                                      s->park_member_paging(p, last);
                                  });
}

void Session::member_page_sent(const std::shared_ptr<MemberPaging>& p, bool last) {
  if (last) return finish_member_paging(p);
  // Paced by the client: the next page once most of what is queued for it has gone.
  size_t bound = static_cast<size_t>(worker_.config().gateway.max_queue_bytes) / 4;
  if (conn_ && conn_->outbound_bytes() > bound) {
    Worker* w = &worker_;
    uint64_t sid = id_;
    bool later = worker_.later(10, [w, sid, p] {
      Session* s = w->find(sid);
      if (s && s->state_ == State::ready)
        s->member_page_sent(p, false);
      else if (s)
        s->park_member_paging(p, false);
    });
    if (later) return;
  }
  request_member_page(p);
}

void Session::finish_member_paging(const std::shared_ptr<MemberPaging>& p) {
  while (p->index < p->count && state_ == State::ready) {
    Json chunk =
        members_chunk(p->guild_id, Json::array(), p->index++, p->count, Json::array(), p->nonce);
    dispatch(make_dispatch("GUILD_MEMBERS_CHUNK", dump(chunk)));
  }
  if (p->index < p->count) return park_member_paging(p, true);  // dropped while writing
  log::debug("ws", "members chunked",
             {{"session", hex_id(id_)},
              {"guild", p->guild_id},
              {"members", p->sent},
              {"chunks", p->count},
              {"ms", worker_.now_ms() - p->started_ms}});
}

void Session::park_member_paging(const std::shared_ptr<MemberPaging>& p, bool last) {
  if (state_ != State::detached) return;  // closed: the request ends with the session
  p->parked_last = last;
  parked_paging_.push_back(p);
}

void Session::resume_member_paging() {
  std::vector<std::shared_ptr<MemberPaging>> parked;
  parked.swap(parked_paging_);
  for (const std::shared_ptr<MemberPaging>& p : parked) {
    if (state_ != State::ready) {  // dropped again while writing: parked again
      park_member_paging(p, p->parked_last);
      continue;
    }
    log::debug("ws", "member chunking resumed",
               {{"session", hex_id(id_)}, {"guild", p->guild_id}, {"chunk", p->index}});
    member_page_sent(p, p->parked_last);
  }
}

}  // namespace chat::gateway
