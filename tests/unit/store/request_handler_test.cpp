// The StoreRequest ops without the bus: decoding (truncated msgpack, newer versions),
// the 400s of bad fields, and the disposition (now or after the commit) of each op.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include "chat/store/request_handler.hpp"

using namespace chat;
using namespace chat::store;

namespace {

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<RequestHandler> handler;
  Fixture() {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() / ("chat-store-rh-" + std::to_string(rd()));
    EngineOptions o;
    o.path = (dir / "store").string();
    o.block_cache_mb = 8;
    REQUIRE(Engine::open(o, engine).is_ok());
    handler = std::make_unique<RequestHandler>(*engine);
  }
  ~Fixture() {
    handler.reset();
    engine.reset();
    std::filesystem::remove_all(dir);
  }
  proto::StoreReply run(const proto::StoreRequest& r, Disposition expect) {
    proto::StoreReply reply;
    Handled h = handler->handle(r, reply);
    CHECK(h.when == expect);
    if (h.when == Disposition::reply_after_commit) REQUIRE(engine->commit(true).is_ok());
    return reply;
  }
};

proto::Message msg(uint64_t channel, uint64_t id) {
  proto::Message m;
  m.id = id;
  m.channel_id = channel;
  m.content = "hi " + std::to_string(id);
  return m;
}

}  // namespace

TEST_CASE("decode_request refuses truncated, mistyped and newer bodies") {
  proto::StoreRequest r;
  r.op = "msg.get";
  r.channel_id = 1;
  r.message_id = 2;
  std::string body = proto::pack(r);
  proto::StoreRequest out;
  std::string error;
  REQUIRE(decode_request(body, out, error));
  CHECK(out.op == "msg.get");
  for (size_t n = 0; n < body.size(); ++n) {
    proto::StoreRequest t;
    CHECK_FALSE(decode_request(std::string_view(body.data(), n), t, error));
  }
  CHECK_FALSE(decode_request("\x93\x01\x02\x03", out, error));      // an array, not a map
  CHECK_FALSE(decode_request("\xdd\xff\xff\xff\xff", out, error));  // huge array header
  r.v = proto::kSchemaVersion + 1;
  CHECK_FALSE(decode_request(proto::pack(r), out, error));
  CHECK(error.find("newer") != std::string::npos);
}

TEST_CASE("ops answer as documented") {
  Fixture f;
  proto::StoreRequest r;
  r.op = "msg.append";
  r.messages = {msg(5, 100), msg(5, 200), msg(5, 300)};
  auto reply = f.run(r, Disposition::reply_after_commit);
  CHECK(reply.status == 200);
  CHECK(reply.count == 3);

  r = {};
  r.op = "msg.page";
  r.channel_id = 5;
  r.limit = 2;
  reply = f.run(r, Disposition::reply_now);
  REQUIRE(reply.messages.size() == 2);
  CHECK(reply.messages[0].id == 300);
  CHECK(reply.messages[1].id == 200);

  r = {};
  r.op = "msg.get";
  r.channel_id = 5;
  r.message_id = 200;
  reply = f.run(r, Disposition::reply_now);
  REQUIRE(reply.messages.size() == 1);
  CHECK(reply.messages[0].content == "hi 200");
  r.message_id = 201;
  CHECK(f.run(r, Disposition::reply_now).status == 404);

  r = {};
  r.op = "msg.put";
  r.messages = {msg(5, 200)};
  r.messages[0].content = "edited";
  reply = f.run(r, Disposition::reply_after_commit);
  CHECK(reply.status == 200);
  CHECK(reply.messages.at(0).content == "edited");
  r.messages[0].id = 201;
  CHECK(f.run(r, Disposition::reply_now).status == 404);

  r = {};
  r.op = "msg.delete";
  r.channel_id = 5;
  r.ids = {100, 101};
  reply = f.run(r, Disposition::reply_after_commit);
  CHECK(reply.count == 1);
  reply = f.run(r, Disposition::reply_now);
  CHECK(reply.status == 200);
  CHECK(reply.count == 0);

  r = {};
  r.op = "dir.put";
  r.entries = {{"k/1", "a"}, {"k/2", "b"}};
  CHECK(f.run(r, Disposition::reply_after_commit).status == 200);
  r = {};
  r.op = "dir.get";
  r.keys = {"k/2"};
  reply = f.run(r, Disposition::reply_now);
  REQUIRE(reply.entries.size() == 1);
  CHECK(reply.entries[0].value == "b");
  r.keys = {"k/3"};
  CHECK(f.run(r, Disposition::reply_now).status == 404);
  r = {};
  r.op = "dir.scan";
  r.prefix = "k/";
  CHECK(f.run(r, Disposition::reply_now).entries.size() == 2);
  r = {};
  r.op = "dir.del";
  r.keys = {"k/1"};
  CHECK(f.run(r, Disposition::reply_after_commit).status == 200);
  r = {};
  r.op = "dir.scan";
  r.prefix = "k/";
  CHECK(f.run(r, Disposition::reply_now).entries.size() == 1);

  r = {};
  r.op = "stats";
  r.channel_id = 5;
  reply = f.run(r, Disposition::reply_now);
  CHECK(reply.text.find("\"messages\":2") != std::string::npos);
}

TEST_CASE("bad requests are 400 and stage nothing") {
  Fixture f;
  auto expect_400 = [&](const proto::StoreRequest& r) {
    INFO("op=" << r.op);
    auto reply = f.run(r, Disposition::reply_now);
    CHECK(reply.status == 400);
    CHECK_FALSE(reply.error.empty());
    CHECK(f.engine->staged() == 0);
  };
  proto::StoreRequest r;
  r.op = "nope";
  expect_400(r);
  r = {};
  r.op = "msg.append";
  expect_400(r);
  r.messages = {msg(5, 1), msg(5, 0)};
  expect_400(r);
  r.messages = {msg(0, 1)};
  expect_400(r);
  r = {};
  r.op = "msg.page";
  r.channel_id = 5;
  for (int limit : {0, -1, 101}) {
    r.limit = limit;
    expect_400(r);
  }
  r.limit = 10;
  r.before = 1;
  r.around = 2;
  expect_400(r);
  r = {};
  r.op = "msg.page";
  r.limit = 10;
  expect_400(r);
  r = {};
  r.op = "msg.get";
  r.channel_id = 5;
  expect_400(r);
  r = {};
  r.op = "msg.put";
  expect_400(r);
  r.messages = {msg(5, 0)};
  expect_400(r);
  r = {};
  r.op = "msg.delete";
  r.channel_id = 5;
  expect_400(r);
  r.ids = {1, 0};
  expect_400(r);
  r = {};
  r.op = "dir.put";
  r.entries = {{"", "x"}};
  expect_400(r);
  r = {};
  r.op = "dir.del";
  expect_400(r);
  r = {};
  r.op = "dir.get";
  expect_400(r);
  r = {};
  r.op = "dir.scan";
  r.limit = -1;
  expect_400(r);
}
