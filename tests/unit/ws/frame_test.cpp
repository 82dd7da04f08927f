// RFC 6455 framing: reassembly, control frames between fragments, masking in both
// directions, length encodings, size limits, close payloads and UTF-8 rules.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "chat/ws/frame.hpp"

using namespace chat::ws;

namespace {

struct Got {
  FrameEvent::Kind kind;
  Opcode opcode;
  uint16_t code;
  std::string payload;
};

// Feeds everything (in pieces of `step` bytes) and collects the events.
std::vector<Got> run(FrameParser& p, const std::string& bytes, size_t step = 0) {
  std::vector<Got> out;
  if (step == 0) step = bytes.size() ? bytes.size() : 1;
  for (size_t off = 0; off < bytes.size(); off += step) {
    std::string_view piece = std::string_view(bytes).substr(off, step);
    while (!piece.empty()) {
      FrameEvent ev;
      size_t n = p.parse(piece, ev);
      piece.remove_prefix(n);
      if (ev.kind != FrameEvent::Kind::none) {
        std::string text(ev.kind == FrameEvent::Kind::close || ev.kind == FrameEvent::Kind::error
                             ? ev.reason
                             : ev.payload);
        out.push_back({ev.kind, ev.opcode, ev.code, text});
      } else if (n == 0) {
        break;
      }
    }
    if (p.failed()) break;
  }
  return out;
}

std::string client(Opcode op, std::string_view payload, bool fin = true) {
  return encode_client_frame(op, payload, fin);
}

uint16_t error_code(FrameParser& p, const std::string& bytes) {
  auto got = run(p, bytes);
  REQUIRE(!got.empty());
  CHECK(got.back().kind == FrameEvent::Kind::error);
  return got.back().code;
}

}  // namespace

TEST_CASE("a single masked text frame, whole and byte by byte") {
  std::string frame = client(Opcode::text, "hello");
  for (size_t step : {size_t(0), size_t(1), size_t(3)}) {
    FrameParser p(Role::server);
    auto got = run(p, frame, step);
    REQUIRE(got.size() == 1);
    CHECK(got[0].kind == FrameEvent::Kind::message);
    CHECK(got[0].opcode == Opcode::text);
    CHECK(got[0].payload == "hello");
  }
}

TEST_CASE("fragments are joined, with control frames between them") {
  std::string bytes = client(Opcode::text, "Hel", false) + client(Opcode::ping, "p1") +
                      client(Opcode::continuation, "lo ", false) + client(Opcode::pong, "") +
                      client(Opcode::continuation, "world", true) +
                      client(Opcode::binary, "\x01\x02");
  for (size_t step : {size_t(0), size_t(1), size_t(7)}) {
    FrameParser p(Role::server);
    auto got = run(p, bytes, step);
    REQUIRE(got.size() == 4);
    CHECK(got[0].kind == FrameEvent::Kind::ping);
    CHECK(got[0].payload == "p1");
    CHECK(got[1].kind == FrameEvent::Kind::pong);
    CHECK(got[2].kind == FrameEvent::Kind::message);
    CHECK(got[2].payload == "Hello world");
    CHECK(got[3].opcode == Opcode::binary);
    CHECK(got[3].payload == std::string("\x01\x02"));
  }
}

TEST_CASE("masking rules: servers need masked frames, clients unmasked ones") {
  {
    FrameParser p(Role::server);
    CHECK(error_code(p, encode_server_frame(Opcode::text, "x")) == close_code::protocol_error);
  }
  {
    FrameParser p(Role::client);
    CHECK(error_code(p, client(Opcode::text, "x")) == close_code::protocol_error);
  }
  {
    FrameParser p(Role::client);
    auto got = run(p, encode_server_frame(Opcode::text, "ok"));
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "ok");
  }
}

TEST_CASE("protocol errors are 1002") {
  auto with_b0 = [](uint8_t b0) {
    std::string f = client(Opcode::text, "x");
    f[0] = char(b0);
    return f;
  };
  std::vector<std::string> cases = {
      with_b0(0x80 | 0x40 | 0x1),                                    // RSV1 without an extension
      with_b0(0x80 | 0x10 | 0x2),                                    // RSV3
      with_b0(0x80 | 0x3),                                           // reserved data opcode
      with_b0(0x80 | 0xB),                                           // reserved control opcode
      client(Opcode::continuation, "x"),                             // nothing to continue
      client(Opcode::ping, "x", false),                              // fragmented control
      client(Opcode::ping, std::string(126, 'a')),                   // control too long
      client(Opcode::text, "a", false) + client(Opcode::text, "b"),  // new message mid-message
      client(Opcode::close, "\x03"),                                 // one-byte close payload
  };
  for (const auto& c : cases) {
    FrameParser p(Role::server);
    CHECK(error_code(p, c) == close_code::protocol_error);
    CHECK(p.failed());
  }
}

TEST_CASE("close payloads: codes and reasons") {
  {
    FrameParser p(Role::server);
    auto got = run(p, client(Opcode::close, close_payload(1000, "bye")));
    REQUIRE(got.size() == 1);
    CHECK(got[0].kind == FrameEvent::Kind::close);
    CHECK(got[0].code == 1000);
    CHECK(got[0].payload == "bye");
  }
  {
    FrameParser p(Role::server);
    auto got = run(p, client(Opcode::close, ""));
    REQUIRE(got.size() == 1);
    CHECK(got[0].code == close_code::no_status);
  }
  for (uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    std::string payload{char(bad >> 8), char(bad & 0xFF)};
    FrameParser p(Role::server);
    CHECK(error_code(p, client(Opcode::close, payload)) == close_code::protocol_error);
  }
  for (uint16_t good : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999}) {
    FrameParser p(Role::server);
    auto got = run(p, client(Opcode::close, close_payload(good, "")));
    REQUIRE(got.size() == 1);
    CHECK(got[0].code == good);
  }
  {
    FrameParser p(Role::server);
    CHECK(error_code(p, client(Opcode::close, std::string("\x03\xE8\xC3\x28", 4))) ==
          close_code::invalid_payload);
  }
  // Reasons are cut to fit 125 bytes at a code point boundary.
  std::string euro_reason;
  for (int i = 0; i < 60; ++i) euro_reason += "\xE2\x82\xAC";
  std::string payload = close_payload(1000, euro_reason);
  CHECK(payload.size() <= 125);
  CHECK(valid_utf8(payload.substr(2)));
  CHECK(close_payload(1005, "x").empty());
}

TEST_CASE("UTF-8 validation of text messages") {
  auto text_code = [](std::vector<std::string> fragments) -> int {
    std::string bytes;
    for (size_t i = 0; i < fragments.size(); ++i)
      bytes += client(i == 0 ? Opcode::text : Opcode::continuation, fragments[i],
                      i + 1 == fragments.size());
    FrameParser p(Role::server);
    auto got = run(p, bytes);
    if (got.empty()) return -1;
    return got.back().kind == FrameEvent::Kind::message ? 0 : got.back().code;
  };
  CHECK(text_code({"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"}) == 0);  // κόσμε
  // A code point split across fragments is fine.
  CHECK(text_code({"\xCE", "\xBA\xE1\xBD", "\xB9"}) == 0);
  CHECK(text_code({"\xF0\x9F", "\x98", "\x80"}) == 0);  // U+1F600
  CHECK(text_code({"\xC0\xAF"}) == 1007);               // overlong '/'
  CHECK(text_code({"\xE0\x80\xAF"}) == 1007);           // overlong
  CHECK(text_code({"\xED\xA0\x80"}) == 1007);           // surrogate U+D800
  CHECK(text_code({"\xF4\x90\x80\x80"}) == 1007);       // above U+10FFFF
  CHECK(text_code({"\xFF"}) == 1007);
  CHECK(text_code({"ok\xCE", ""}) == 1007);  // ends inside a code point
  CHECK(text_code({"\xCE", "x"}) == 1007);   // broken across fragments
  // Binary is never checked.
  FrameParser p(Role::server);
  auto got = run(p, client(Opcode::binary, "\xFF\xFE"));
  REQUIRE(got.size() == 1);
  CHECK(got[0].kind == FrameEvent::Kind::message);

  Utf8Validator v;
  CHECK(v.feed("\xE2\x82"));
  CHECK_FALSE(v.complete());
  CHECK(v.feed("\xAC"));
  CHECK(v.complete());
  CHECK(valid_utf8(std::string(100, 'a') + "\xE2\x82\xAC" + std::string(9, 'b')));
  CHECK_FALSE(valid_utf8(std::string(100, 'a') + "\xED\xBF\xBF"));
}

TEST_CASE("16-bit and 64-bit lengths, both directions") {
  for (size_t len : {size_t(125), size_t(126), size_t(65535), size_t(65536), size_t(200000)}) {
    std::string payload(len, 'z');
    payload[len / 2] = 'm';
    FrameParser ps(Role::server, 1 << 20);
    auto got = run(ps, client(Opcode::binary, payload), 4096);
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == payload);
    FrameParser pc(Role::client, 1 << 20);
    got = run(pc, encode_server_frame(Opcode::binary, payload), 1000);
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == payload);
  }
  uint8_t h[max_header_size];
  CHECK(encode_header(h, Opcode::text, 125, true, nullptr) == 2);
  CHECK(encode_header(h, Opcode::text, 126, true, nullptr) == 4);
  CHECK(h[1] == 126);
  CHECK(encode_header(h, Opcode::text, 65536, true, nullptr) == 10);
  CHECK(h[1] == 127);
  // A 64-bit length with the top bit set is invalid.
  std::string bad = "\x82\xFF";
  bad += std::string("\x80\0\0\0\0\0\0\0", 8);
  bad += "abcd";
  FrameParser p(Role::server);
  CHECK(error_code(p, bad) == close_code::protocol_error);
}

TEST_CASE("message size limit is 1009, counted across fragments") {
  FrameParser p(Role::server, 100);
  CHECK(error_code(p, client(Opcode::text, std::string(101, 'a'))) == close_code::message_too_big);
  FrameParser q(Role::server, 100);
  CHECK(error_code(q, client(Opcode::text, std::string(60, 'a'), false) +
                          client(Opcode::continuation, std::string(60, 'a'))) ==
        close_code::message_too_big);
  FrameParser r(Role::server, 100);
  auto got = run(r, client(Opcode::text, std::string(100, 'a')));
  REQUIRE(got.size() == 1);
  CHECK(got[0].kind == FrameEvent::Kind::message);
}

TEST_CASE("masking helper matches a byte-wise XOR at any offset") {
  uint8_t key[4] = {1, 2, 3, 4};
  std::string data(37, 'x');
  std::string expect = data;
  for (size_t i = 0; i < expect.size(); ++i) expect[i] ^= key[(i + 3) & 3];
  size_t pos = apply_mask(reinterpret_cast<uint8_t*>(data.data()), 5, key, 3);
  apply_mask(reinterpret_cast<uint8_t*>(data.data() + 5), data.size() - 5, key, pos);
  CHECK(data == expect);
}

TEST_CASE("zero-length frames and empty messages") {
  FrameParser p(Role::server);
  auto got = run(p, client(Opcode::text, "") + client(Opcode::ping, ""));
  REQUIRE(got.size() == 2);
  CHECK(got[0].kind == FrameEvent::Kind::message);
  CHECK(got[0].payload.empty());
  CHECK(got[1].kind == FrameEvent::Kind::ping);
}
