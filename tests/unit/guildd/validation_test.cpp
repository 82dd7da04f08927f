// Input rules: content length in code points, empty content, UTF-8 validity, names,
// paging arguments, and mention parsing.
#include <catch2/catch.hpp>

#include "../../../daemons/guildd/validation.hpp"
#include "chat/proto/ops.hpp"

using namespace chat::guildd;
namespace proto = chat::proto;

namespace {
std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}
}  // namespace

TEST_CASE("utf8_length counts code points and rejects bad UTF-8", "[guildd][validation]") {
  CHECK(utf8_length("") == 0);
  CHECK(utf8_length("abc") == 3);
  CHECK(utf8_length("\xc3\xa9") == 1);          // é
  CHECK(utf8_length("\xe2\x82\xac") == 1);      // €
  CHECK(utf8_length("\xf0\x9f\x98\x80") == 1);  // 😀
  CHECK(utf8_length("\xff") == -1);
  CHECK(utf8_length("\xc0\xaf") == -1);          // overlong '/'
  CHECK(utf8_length("\xed\xa0\x80") == -1);      // UTF-16 surrogate
  CHECK(utf8_length("\xe2\x82") == -1);          // truncated
  CHECK(utf8_length("\xf4\x90\x80\x80") == -1);  // above U+10FFFF
  CHECK(utf8_length("a\x80") == -1);             // stray continuation byte
}

TEST_CASE("content: empty is 50006, over 2000 code points is 50035", "[guildd][validation]") {
  auto empty = check_content("");
  REQUIRE(empty);
  CHECK(empty->status == 400);
  CHECK(empty->code == proto::kEmptyMessage);
  REQUIRE(check_content(" \n\t"));
  CHECK(check_content(" \n\t")->code == proto::kEmptyMessage);

  CHECK_FALSE(check_content("hi"));
  CHECK_FALSE(check_content(repeat("a", 2000)));
  auto too_long = check_content(repeat("a", 2001));
  REQUIRE(too_long);
  CHECK(too_long->status == 400);
  CHECK(too_long->code == proto::kInvalidFormBody);
  CHECK(too_long->errors == "content");

  // Code points, not bytes: 2000 four-byte emoji (8000 bytes) is fine, 2001 is not.
  CHECK_FALSE(check_content(repeat("\xf0\x9f\x98\x80", 2000)));
  CHECK_FALSE(check_content(repeat("\xc3\xa9", 2000)));
  REQUIRE(check_content(repeat("\xf0\x9f\x98\x80", 2001)));
  CHECK(check_content(repeat("\xf0\x9f\x98\x80", 2001))->errors == "content");

  auto bad = check_content("ok\xff");
  REQUIRE(bad);
  CHECK(bad->code == proto::kInvalidFormBody);
  CHECK(bad->errors == "content");
}

TEST_CASE("nonce is at most 25 characters", "[guildd][validation]") {
  CHECK_FALSE(check_nonce(""));
  CHECK_FALSE(check_nonce(repeat("9", 25)));
  REQUIRE(check_nonce(repeat("9", 26)));
  CHECK(check_nonce(repeat("9", 26))->errors == "nonce");
}

TEST_CASE("user names are 1-32 of [A-Za-z0-9_.-]", "[guildd][validation]") {
  CHECK(valid_user_name("alice"));
  CHECK(valid_user_name("Bot_1.test-x"));
  CHECK(valid_user_name(repeat("a", 32)));
  CHECK_FALSE(valid_user_name(""));
  CHECK_FALSE(valid_user_name(repeat("a", 33)));
  CHECK_FALSE(valid_user_name("has space"));
  CHECK_FALSE(valid_user_name("émile"));
  CHECK_FALSE(valid_user_name("a/b"));
}

TEST_CASE("guild and channel names: not blank, bounded, UTF-8", "[guildd][validation]") {
  CHECK_FALSE(check_text_field("general", 100, "name"));
  CHECK(check_text_field("", 100, "name")->errors == "name");
  CHECK(check_text_field("   ", 100, "name")->errors == "name");
  CHECK(check_text_field(repeat("x", 101), 100, "name")->errors == "name");
  CHECK_FALSE(check_text_field("", 1024, "topic", true));
  CHECK(check_text_field("\xff", 1024, "topic", true)->errors == "topic");
}

TEST_CASE("paging: one anchor at most, limit 1..100, default 50", "[guildd][validation]") {
  int limit = 0;
  CHECK_FALSE(check_page(0, 0, 0, limit));
  CHECK(limit == 50);
  limit = 100;
  CHECK_FALSE(check_page(5, 0, 0, limit));
  limit = 1;
  CHECK_FALSE(check_page(0, 0, 7, limit));
  limit = 101;
  auto r = check_page(0, 0, 0, limit);
  REQUIRE(r);
  CHECK(r->code == proto::kInvalidFormBody);
  CHECK(r->errors == "limit");
  limit = -1;
  CHECK(check_page(0, 0, 0, limit)->errors == "limit");
  limit = 10;
  auto two = check_page(1, 2, 0, limit);
  REQUIRE(two);
  CHECK(two->code == proto::kInvalidFormBody);
  CHECK(check_page(1, 0, 3, limit));
  CHECK(check_page(1, 2, 3, limit));
}

TEST_CASE("mentions: <@id> and <@!id>, unique, in order", "[guildd][validation]") {
  using V = std::vector<uint64_t>;
  CHECK(parse_mentions("") == V{});
  CHECK(parse_mentions("hello <@123>") == V{123});
  CHECK(parse_mentions("<@!456> and <@123> and <@456>") == V{456, 123});
  CHECK(parse_mentions("<@&789> role, <#42> channel, <@x> <@> <@-1> <@ 5>") == V{});
  CHECK(parse_mentions("<@<@7>") == V{7});
  CHECK(parse_mentions("unterminated <@99") == V{});
  CHECK(parse_mentions("<@99999999999999999999>") == V{});  // overflows uint64
  CHECK(parse_mentions("<@1><@2><@!3>") == V{1, 2, 3});
}

TEST_CASE("retention_days: unchanged, null, 0..36500", "[guildd][validation]") {
  CHECK_FALSE(check_channel_retention(proto::kRetentionUnchanged));
  CHECK_FALSE(check_channel_retention(proto::kRetentionRemove));
  CHECK_FALSE(check_channel_retention(0));
  CHECK_FALSE(check_channel_retention(1));
  CHECK_FALSE(check_channel_retention(36500));
  for (int bad : {36501, -3, -100, 1 << 30}) {
    auto r = check_channel_retention(bad);
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->code == proto::kInvalidFormBody);
    CHECK(r->errors == "retention_days");
    CHECK(check_guild_retention(bad));
  }
  CHECK_FALSE(check_guild_retention(0));
}
