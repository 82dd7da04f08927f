// The request parser (pipelining, byte-by-byte input, limits, bad input), the response
// serializer and the client's response parser (Content-Length, chunked, until close).
#include <catch2/catch.hpp>

#include "chat/http/message.hpp"
#include "chat/http/request_parser.hpp"
#include "chat/http/response_parser.hpp"

using namespace chat::http;

namespace {

// Parses every request in `bytes`, fed `step` bytes at a time.
std::vector<Request> parse_all(const std::string& bytes, size_t step, int* error = nullptr,
                               ParserLimits limits = {}) {
  std::vector<Request> out;
  RequestParser p(limits);
  for (size_t off = 0; off < bytes.size(); off += step) {
    std::string_view piece = std::string_view(bytes).substr(off, step);
    while (!piece.empty()) {
      piece.remove_prefix(p.feed(piece));
      if (p.failed()) {
        if (error) *error = p.error_status();
        return out;
      }
      if (p.done()) {
        out.push_back(p.take_request());
        p.reset();
      }
    }
  }
  if (error) *error = 0;
  return out;
}

int status_of(const std::string& bytes, ParserLimits limits = {}) {
  int error = -1;
  parse_all(bytes, bytes.size(), &error, limits);
  return error;
}

}  // namespace

TEST_CASE("pipelined requests, whole and byte by byte") {
  std::string bytes =
      "GET /api/v10/gateway?v=10&encoding=json&name=a%20b+c HTTP/1.1\r\nHost: x\r\n"
      "X-Thing:  spaced value  \r\n\r\n"
      "POST /api/v10/channels/1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n"
      "content-type: application/json\r\n\r\n{\"content\":\"hi\"}\n"
      "DELETE /x HTTP/1.0\r\n\r\n";
  for (size_t step : {bytes.size(), size_t(1), size_t(5)}) {
    int error = -1;
    auto reqs = parse_all(bytes, step, &error);
    CHECK(error == 0);
    REQUIRE(reqs.size() == 3);
    CHECK(reqs[0].method == "GET");
    CHECK(reqs[0].path == "/api/v10/gateway");
    CHECK(reqs[0].query == "v=10&encoding=json&name=a%20b+c");
    REQUIRE(reqs[0].param("name"));
    CHECK(*reqs[0].param("name") == "a b c");
    CHECK(*reqs[0].param("v") == "10");
    CHECK(reqs[0].headers.get("x-thing") == "spaced value");
    CHECK(reqs[0].keep_alive());
    CHECK(reqs[1].body == "{\"content\":\"hi\"}\n");
    CHECK(reqs[1].headers.get("Content-Type") == "application/json");
    CHECK(reqs[2].method == "DELETE");
    CHECK(reqs[2].version_minor == 0);
    CHECK_FALSE(reqs[2].keep_alive());
  }
}

TEST_CASE("limits: 431 for large heads, 413 for large bodies") {
  std::string big_header =
      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(17000, 'a') + "\r\n\r\n";
  CHECK(status_of(big_header) == 431);
  int error = -1;
  parse_all(big_header, 1, &error);
  CHECK(error == 431);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n") == 413);
  ParserLimits small;
  small.max_body = 10;
  CHECK(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890", small) ==
        413);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", small) ==
        0);
  std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 150; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  CHECK(status_of(many + "\r\n") == 431);
}

TEST_CASE("bad requests") {
  CHECK(status_of("GET\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n") == 400);
  CHECK(status_of("GET  / HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
  CHECK(status_of("G(T / HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTX/1.1\r\nHost: x\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/2.0\r\nHost: x\r\n\r\n") == 505);
  CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400);  // no Host
  CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") ==
        400);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") == 411);
  CHECK(status_of("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n") == 501);
  CHECK(status_of("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
}

TEST_CASE("bare LF line endings and leading blank lines are accepted") {
  int error = -1;
  auto reqs = parse_all("\r\nGET /x HTTP/1.1\nHost: y\n\n", 1, &error);
  CHECK(error == 0);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].headers.get("host") == "y");
}

TEST_CASE("absolute-form targets keep only the path") {
  auto reqs = parse_all("GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].path == "/a/b");
  CHECK(*reqs[0].param("c") == "d");
}

TEST_CASE("response serializer") {
  Response r = Response::json(200, R"({"a":1})");
  std::string s = serialize_response(r);
  CHECK(s ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
  std::string c;
  serialize_response(Response::empty(204), false, false, c);
  CHECK(c == "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
  std::string h;
  serialize_response(Response::text(404, "nope"), true, true, h);
  CHECK(h.find("Content-Length: 4\r\n\r\n") != std::string::npos);
  CHECK(h.substr(h.size() - 4) == "\r\n\r\n");
  CHECK(Response::error(400, "bad \"x\"").body == R"({"code": 0, "message": "bad \"x\""})");
}

TEST_CASE("headers: case-insensitive lookup and tokens") {
  Headers h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("X-A", "1");
  h.add("x-a", "2");
  CHECK(h.get("x-A") == "1");
  CHECK(h.has_token("connection", "upgrade"));
  CHECK_FALSE(h.has_token("connection", "close"));
  h.set("X-a", "3");
  CHECK(h.size() == 2);
  CHECK(h.get("x-a") == "3");
  CHECK(percent_encode("a b/é") == "a%20b%2F%C3%A9");
  CHECK(percent_decode("a%20b%2f%zz+") == "a b/%zz+");
}

TEST_CASE("response parser: content-length, chunked, until close, byte by byte") {
  auto feed_all = [](ResponseParser& p, const std::string& bytes, size_t step) {
    for (size_t off = 0; off < bytes.size() && !p.done() && !p.failed(); off += step) {
      std::string_view piece = std::string_view(bytes).substr(off, step);
      while (!piece.empty() && !p.done() && !p.failed()) {
        size_t n = p.feed(piece);
        piece.remove_prefix(n);
        if (n == 0) break;
      }
    }
  };
  for (size_t step : {size_t(1), size_t(4), size_t(1000)}) {
    ResponseParser a;
    feed_all(a, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", step);
    REQUIRE(a.done());
    CHECK(a.status() == 200);
    CHECK(a.body() == "hello");
    CHECK(a.keep_alive());

    ResponseParser b;
    feed_all(b,
             "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n",
             step);
    REQUIRE(b.done());
    CHECK(b.status() == 201);
    CHECK(b.body() == "helloabcdefghijklmnopqrstuvwxyz");

    ResponseParser c;
    feed_all(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", step);
    CHECK_FALSE(c.done());
    c.finish();
    REQUIRE(c.done());
    CHECK(c.body() == "until the end");
    CHECK_FALSE(c.keep_alive());
  }
  ResponseParser bad;
  bad.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  CHECK(bad.failed());
  ResponseParser cut;
  cut.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  cut.finish();
  CHECK(cut.failed());
  ResponseParser no_body;
  no_body.feed("HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(no_body.done());
}
