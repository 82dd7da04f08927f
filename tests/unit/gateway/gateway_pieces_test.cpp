// The header-only pieces of gatewayd: intents filtering, the frame splice (d encoded once,
// only the sequence number differs), the rate limiters, the replay buffer.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../../../daemons/gatewayd/dispatch_frame.hpp"
#include "../../../daemons/gatewayd/intents.hpp"
#include "../../../daemons/gatewayd/ratelimit.hpp"
#include "../../../daemons/gatewayd/replay_buffer.hpp"

using namespace chat::gateway;

TEST_CASE("intents: valid bits and what each event needs", "[gateway]") {
  REQUIRE(valid_intents(0));
  REQUIRE(valid_intents(3243773));  // discord.py's Intents.default()
  REQUIRE(valid_intents(33281));    // discord.js: Guilds | GuildMessages | MessageContent
  REQUIRE(valid_intents(intent::known));
  REQUIRE_FALSE(valid_intents(1 << 17));
  REQUIRE_FALSE(valid_intents(1LL << 40));
  REQUIRE_FALSE(valid_intents(-1));

  REQUIRE(required_intent("MESSAGE_CREATE", false) == intent::guild_messages);
  REQUIRE(required_intent("MESSAGE_DELETE_BULK", false) == intent::guild_messages);
  REQUIRE(required_intent("MESSAGE_CREATE", true) == intent::direct_messages);
  REQUIRE(required_intent("TYPING_START", false) == intent::guild_message_typing);
  REQUIRE(required_intent("TYPING_START", true) == intent::direct_message_typing);
  REQUIRE(required_intent("GUILD_MEMBER_ADD", false) == intent::guild_members);
  REQUIRE(required_intent("GUILD_MEMBER_REMOVE", false) == intent::guild_members);
  REQUIRE(required_intent("CHANNEL_CREATE", false) == intent::guilds);
  REQUIRE(required_intent("GUILD_CREATE", false) == intent::guilds);
  REQUIRE(required_intent("GUILD_DELETE", false) == intent::guilds);
  REQUIRE(required_intent("READY", false) == 0);
  REQUIRE(required_intent("RESUMED", false) == 0);
}

TEST_CASE("intents: message content visibility", "[gateway]") {
  uint32_t without = intent::guild_messages;
  uint32_t with = without | intent::message_content;
  REQUIRE(sees_content(with, false, false, false));
  REQUIRE_FALSE(sees_content(without, false, false, false));
  REQUIRE(sees_content(without, true, false, false));  // DM
  REQUIRE(sees_content(without, false, true, false));  // own message
  REQUIRE(sees_content(without, false, false, true));  // mentioned
}

TEST_CASE("dispatch frames: d once, seq spliced per session", "[gateway]") {
  FramePtr f = make_dispatch("MESSAGE_CREATE", R"({"id":"1","content":"hi"})");
  std::string out;
  splice_frame(*f, 1, out);
  REQUIRE(out == R"({"op":0,"t":"MESSAGE_CREATE","s":1,"d":{"id":"1","content":"hi"}})");
  splice_frame(*f, 4294967295u, out);
  auto j = nlohmann::json::parse(out);
  REQUIRE(j["op"] == 0);
  REQUIRE(j["t"] == "MESSAGE_CREATE");
  REQUIRE(j["s"] == 4294967295u);
  REQUIRE(j["d"]["content"] == "hi");
  splice_frame(*f, 7, out);  // the buffer is reused: no leftovers
  REQUIRE(nlohmann::json::parse(out)["s"] == 7);
}

TEST_CASE("event window: 120 per 60 s", "[gateway]") {
  EventWindow w;
  for (int i = 0; i < 120; ++i) REQUIRE(w.allow(1000));
  REQUIRE_FALSE(w.allow(1000));
  REQUIRE_FALSE(w.allow(1059));
  REQUIRE(w.allow(1060));  // a new window
}

TEST_CASE("REST limiter: buckets, remaining, reset", "[gateway]") {
  RestLimiter l;
  RateDecision d = l.check("t|a|1", 3, 1000, 10000);
  REQUIRE(d.allowed);
  REQUIRE(d.limit == 3);
  REQUIRE(d.remaining == 2);
  REQUIRE(d.reset_after_ms == 1000);
  REQUIRE(l.check("t|a|1", 3, 1000, 10100).remaining == 1);
  REQUIRE(l.check("t|a|1", 3, 1000, 10200).remaining == 0);
  d = l.check("t|a|1", 3, 1000, 10300);
  REQUIRE_FALSE(d.allowed);
  REQUIRE(d.reset_after_ms == 700);
  REQUIRE(l.check("t|a|2", 3, 1000, 10300).allowed);  // another major id: another bucket
  REQUIRE(l.check("t|a|1", 3, 1000, 11000).allowed);  // the window ended
  l.sweep(100000, 60000);
  REQUIRE(l.size() == 0);
}

// The sequence numbers the buffer holds after `after`, up to `last`, in order.
static std::vector<uint32_t> held_after(const ReplayBuffer& r, uint32_t after, uint32_t last) {
  std::vector<uint32_t> seen;
  for (uint32_t s = after + 1; s <= last; ++s)
    if (r.at(s)) seen.push_back(s);
  return seen;
}

TEST_CASE("replay buffer: order, acknowledgement, coverage", "[gateway]") {
  ReplayBuffer r;
  REQUIRE(r.covers(0, 0));
  for (uint32_t s = 1; s <= 5; ++s) r.push(make_dispatch("X", "{}"), s);
  REQUIRE(r.covers(2, 5));
  REQUIRE_FALSE(r.covers(6, 5));  // claims more than was sent
  REQUIRE(held_after(r, 2, 5) == std::vector<uint32_t>{3, 4, 5});
  r.ack(3);
  REQUIRE(r.size() == 2);
  REQUIRE_FALSE(r.covers(2, 5));  // 3 is gone
  REQUIRE(r.covers(3, 5));
  r.ack(5);
  REQUIRE(r.size() == 0);  // idle: storage released
  for (uint32_t s = 6; s < 6 + ReplayBuffer::kCapacity + 10; ++s)
    r.push(make_dispatch("X", "{}"), s);
  REQUIRE(r.size() == ReplayBuffer::kCapacity);
  REQUIRE_FALSE(r.covers(6, 6 + ReplayBuffer::kCapacity + 9));
}

TEST_CASE("replay buffer: the ring wraps, frames come back with their seq", "[gateway]") {
  ReplayBuffer r;
  std::vector<FramePtr> frames;
  for (uint32_t s = 1; s <= 3000; ++s) {
    frames.push_back(make_dispatch("X", std::to_string(s)));
    r.push(frames.back(), s);
    if (s % 700 == 0 && s < 1500) r.ack(s - 100);  // move the front, then wrap
  }
  REQUIRE(r.size() == ReplayBuffer::kCapacity);
  REQUIRE(r.capacity() == ReplayBuffer::kCapacity);
  REQUIRE(r.covers(3000 - ReplayBuffer::kCapacity, 3000));
  REQUIRE_FALSE(r.covers(3000 - ReplayBuffer::kCapacity - 1, 3000));
  for (uint32_t seq = 2990; seq <= 3000; ++seq) {
    const FramePtr* f = r.at(seq);
    REQUIRE(f);
    REQUIRE(*f == frames[seq - 1]);  // the very frame, shared, not a copy
  }
  REQUIRE(r.at(3001) == nullptr);
  REQUIRE(r.at(3000 - ReplayBuffer::kCapacity) == nullptr);  // pushed out
  REQUIRE(frames[2999].use_count() == 2);
  r.ack(3000);
  REQUIRE(r.size() == 0);
  REQUIRE(r.capacity() == 0);  // idle: nothing allocated
  REQUIRE(frames[2999].use_count() == 1);
}

TEST_CASE("replay buffer: READY and GUILD_CREATE are skipped, not kept", "[gateway]") {
  ReplayBuffer r;
  r.skip(1);  // READY
  r.skip(2);  // GUILD_CREATE
  REQUIRE(r.size() == 0);
  REQUIRE(r.capacity() == 0);
  REQUIRE_FALSE(r.covers(1, 2));  // saw READY only: its GUILD_CREATE cannot be replayed
  REQUIRE(r.covers(2, 2));
  r.push(make_dispatch("MESSAGE_CREATE", "{}"), 3);
  REQUIRE(r.covers(2, 3));
  REQUIRE(held_after(r, 2, 3) == std::vector<uint32_t>{3});
  // A gap (a dispatch that was neither kept nor skipped) cannot be replayed across.
  r.push(make_dispatch("MESSAGE_CREATE", "{}"), 5);
  REQUIRE_FALSE(r.covers(3, 5));
  REQUIRE(r.covers(4, 5));
  REQUIRE(r.size() == 1);
}

TEST_CASE("dispatch frames: prefix and tail make the spliced text", "[gateway]") {
  std::string big(3000, 'x');
  FramePtr f = make_dispatch("MESSAGE_CREATE", "\"" + big + "\"");
  char buf[128];
  size_t n = frame_prefix(*f, 42, buf, sizeof buf);
  std::string out;
  splice_frame(*f, 42, out);
  REQUIRE(std::string(buf, n) + f->tail == out);
  REQUIRE(frame_prefix(*f, 42, buf, 10) == 0);  // too small: refused
}
