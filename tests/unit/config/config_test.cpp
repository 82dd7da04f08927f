#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "chat/config/config.hpp"

namespace {

std::string write_file(const std::string& text) {
  char path[] = "/tmp/chat_config_testXXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("defaults apply when there is no file") {
  char* env[] = {nullptr};
  auto c = chat::load_config("", {}, env);
  CHECK(c.gateway.listen == "127.0.0.1:8790");
  CHECK(c.store.sync == "batch");
  CHECK(c.store.bucket_days == 10);
  CHECK(c.nats.spawn);
}

TEST_CASE("flags beat environment beats file beats defaults") {
  auto path = write_file(
      "data_dir = \"/tmp/x\"\n[gateway]\nlisten = \"127.0.0.1:1000\"\nthreads = 3\n"
      "[store]\nbucket_days = 5\n");
  std::string e1 = "CHAT_GATEWAY_LISTEN=127.0.0.1:2000";
  std::string e2 = "CHAT_GATEWAY_THREADS=4";
  std::string e3 = "CHAT_URL=http://ignored";  // not a key: belongs to chatctl
  char* env[] = {e1.data(), e2.data(), e3.data(), nullptr};
  auto c = chat::load_config(path, {"gateway.listen=127.0.0.1:3000"}, env);
  CHECK(c.gateway.listen == "127.0.0.1:3000");      // flag
  CHECK(c.gateway.threads == 4);                    // environment
  CHECK(c.store.bucket_days == 5);                  // file
  CHECK(c.data_dir == "/tmp/x");                    // file
  CHECK(c.gateway.heartbeat_interval_ms == 41250);  // default
  std::remove(path.c_str());
}

TEST_CASE("an unknown key is an error naming the key and the line") {
  auto path = write_file("[gateway]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n");
  char* env[] = {nullptr};
  try {
    chat::load_config(path, {}, env);
    FAIL("no error");
  } catch (const chat::ConfigError& e) {
    std::string msg = e.what();
    CHECK(msg.find("gateway.lisen") != std::string::npos);
    CHECK(msg.find(":3:") != std::string::npos);
  }
  std::remove(path.c_str());
}

TEST_CASE("bad values are errors naming the key") {
  char* env[] = {nullptr};
  auto expect_error = [&](const std::string& text, const std::string& key) {
    auto path = write_file(text);
    try {
      chat::load_config(path, {}, env);
      FAIL("no error for " << text);
    } catch (const chat::ConfigError& e) {
      CHECK(std::string(e.what()).find(key) != std::string::npos);
    }
    std::remove(path.c_str());
  };
  expect_error("[store]\nsync = \"sometimes\"\n", "store.sync");
  expect_error("[store]\nbucket_days = \"ten\"\n", "store.bucket_days");
  expect_error("[gateway]\nheartbeat_interval_ms = 90000\n", "gateway.heartbeat_interval_ms");
  expect_error("[nats]\nspawn = 1\n", "nats.spawn");
  expect_error("[nosuch]\nx = 1\n", "nosuch");
  expect_error("[gateway\n", ":1:");

  std::string bad_env = "CHAT_STORE_BUCKET_DAYS=abc";
  char* env2[] = {bad_env.data(), nullptr};
  CHECK_THROWS_WITH(chat::load_config("", {}, env2), Catch::Contains("store.bucket_days"));
  CHECK_THROWS_WITH(chat::load_config("", {"store.nope=1"}, env), Catch::Contains("store.nope"));
}

TEST_CASE("host:port parsing") {
  auto hp = chat::parse_host_port("127.0.0.1:8790");
  CHECK(hp.host == "127.0.0.1");
  CHECK(hp.port == 8790);
  auto v6 = chat::parse_host_port("[::1]:80");
  CHECK(v6.host == "::1");
  CHECK_THROWS_AS(chat::parse_host_port("nohost"), chat::ConfigError);
  CHECK_THROWS_AS(chat::parse_host_port("h:99999"), chat::ConfigError);
}

TEST_CASE("shard ranges: empty is every shard, FIRST-LAST inclusive, checked against shards") {
  char* env[] = {nullptr};
  auto c = chat::load_config("", {"shards=8"}, env);
  CHECK(c.guild_shards().first == 0);
  CHECK(c.guild_shards().last == 7);
  CHECK(c.store_shards().count() == 8);

  auto path = write_file(
      "shards = 8\n[guild]\nshard_range = \"0-3\"\n[store]\nshard_range = \"4-7\"\n"
      "[presence]\nshard_range = \"5\"\n");
  c = chat::load_config(path, {}, env);
  CHECK(c.guild_shards().first == 0);
  CHECK(c.guild_shards().last == 3);
  CHECK(c.guild_shards().contains(3));
  CHECK_FALSE(c.guild_shards().contains(4));
  CHECK(c.store_shards().first == 4);
  CHECK(c.store_shards().last == 7);
  CHECK(c.presence_shards().first == 5);
  CHECK(c.presence_shards().last == 5);
  std::remove(path.c_str());

  // Past the last shard, backwards, or not numbers: an error naming the key.
  CHECK_THROWS_WITH(chat::load_config("", {"shards=4", "guild.shard_range=2-4"}, env),
                    Catch::Contains("guild.shard_range") && Catch::Contains("shards = 4"));
  CHECK_THROWS_WITH(chat::load_config("", {"shards=4", "store.shard_range=3-1"}, env),
                    Catch::Contains("store.shard_range"));
  CHECK_THROWS_WITH(chat::load_config("", {"presence.shard_range=a-b"}, env),
                    Catch::Contains("presence.shard_range"));
  CHECK_THROWS_WITH(chat::load_config("", {"guild.shard_range=-1"}, env),
                    Catch::Contains("guild.shard_range"));
  CHECK_THROWS_WITH(chat::load_config("", {"guild.shard_range=1"}, env),  // shards = 1
                    Catch::Contains("guild.shard_range"));
}

TEST_CASE("chatd.programs: an array in the file, a comma list in env and flags") {
  char* env[] = {nullptr};
  CHECK(chat::load_config("", {}, env).chatd.programs.empty());
  auto path = write_file("[chatd]\nprograms = [\"gatewayd\", \"stored\"]\n");
  auto c = chat::load_config(path, {}, env);
  CHECK(c.chatd.programs == std::vector<std::string>{"gatewayd", "stored"});
  std::remove(path.c_str());

  std::string e = "CHAT_CHATD_PROGRAMS=guildd, presenced";
  char* env2[] = {e.data(), nullptr};
  CHECK(chat::load_config("", {}, env2).chatd.programs ==
        std::vector<std::string>{"guildd", "presenced"});
  CHECK(chat::load_config("", {"chatd.programs=gatewayd"}, env).chatd.programs ==
        std::vector<std::string>{"gatewayd"});

  auto bad = write_file("[chatd]\nprograms = [\"gatewayd\", \"sfud2\"]\n");
  CHECK_THROWS_WITH(chat::load_config(bad, {}, env), Catch::Contains("chatd.programs"));
  std::remove(bad.c_str());
  auto not_array = write_file("[chatd]\nprograms = \"gatewayd\"\n");
  CHECK_THROWS_WITH(chat::load_config(not_array, {}, env),
                    Catch::Contains("chatd.programs") && Catch::Contains("array"));
  std::remove(not_array.c_str());
  CHECK_THROWS_WITH(chat::load_config("", {"chatd.programs=stored,stored"}, env),
                    Catch::Contains("twice"));
}
