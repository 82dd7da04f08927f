// The opening handshake: RFC 6455's worked example, the server's checks, the client's.
#include <catch2/catch.hpp>

#include "chat/http/request_parser.hpp"
#include "chat/ws/handshake.hpp"

using namespace chat;

namespace {

http::Request parse(const std::string& head) {
  http::RequestParser p;
  p.feed(head);
  REQUIRE(p.done());
  return p.take_request();
}

}  // namespace

TEST_CASE("Sec-WebSocket-Accept for RFC 6455's example key") {
  CHECK(ws::compute_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("base64 round trip and strictness") {
  std::string out;
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    REQUIRE(ws::base64_decode(ws::base64_encode(s), out));
    CHECK(out == s);
  }
  CHECK(ws::base64_encode("foobar") == "Zm9vYmFy");
  CHECK_FALSE(ws::base64_decode("Zm9", out));
  CHECK_FALSE(ws::base64_decode("Zm=v", out));
  CHECK_FALSE(ws::base64_decode("Zm9v!A==", out));
  REQUIRE(ws::base64_decode(ws::random_key(), out));
  CHECK(out.size() == 16);
}

TEST_CASE("server-side handshake checks") {
  const std::string good =
      "GET /gateway?v=10 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  auto c = ws::check_server_handshake(parse(good));
  CHECK(c.ok());
  CHECK(c.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  std::string resp = ws::server_handshake_response(c.accept);
  CHECK(resp.find("HTTP/1.1 101 Switching Protocols\r\n") == 0);
  CHECK(resp.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);

  auto replace = [&](std::string from, std::string to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return ws::check_server_handshake(parse(s));
  };
  CHECK(replace("GET", "POST").status == 400);
  CHECK(replace("Upgrade: websocket", "Upgrade: h2c").status == 400);
  CHECK(replace("keep-alive, Upgrade", "keep-alive").status == 400);
  auto v = replace("Version: 13", "Version: 8");
  CHECK(v.status == 426);
  CHECK(ws::handshake_error_response(v).headers.get("Sec-WebSocket-Version") == "13");
  CHECK(replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==").status == 400);
  CHECK(replace("dGhlIHNhbXBsZSBub25jZQ==", "not base64").status == 400);
}

TEST_CASE("client-side handshake: request and answer") {
  std::string key = ws::random_key();
  std::string req = ws::client_handshake_request("127.0.0.1:80", "/gateway?v=10", key);
  auto r = parse(req);
  CHECK(ws::check_server_handshake(r).ok());
  CHECK(r.path == "/gateway");
  http::Headers h;
  h.add("Upgrade", "websocket");
  h.add("Connection", "Upgrade");
  h.add("Sec-WebSocket-Accept", ws::compute_accept(key));
  CHECK(ws::check_client_handshake(101, h, key).empty());
  CHECK_FALSE(ws::check_client_handshake(200, h, key).empty());
  CHECK_FALSE(ws::check_client_handshake(101, h, ws::random_key()).empty());
}
