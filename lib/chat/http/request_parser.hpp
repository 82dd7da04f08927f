// Incremental HTTP/1.1 request parser. Bytes go in as they arrive (any split, even one
// byte at a time); a complete Request comes out. Limits are enforced as the bytes arrive,
// and every failure is an HTTP status to answer with before closing: 400 malformed,
// 411 chunked or otherwise unsized body, 413 body too large, 431 head too large,
// 501 unsupported transfer coding, 505 not HTTP/1.x. Pipelined requests: feed() stops
// at the end of each request; call reset() and feed the rest.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "chat/http/message.hpp"

namespace chat::http {

struct ParserLimits {
  size_t max_head = 16 * 1024;    // request line + headers, including CRLFs
  size_t max_body = 1024 * 1024;  // Content-Length above this is 413
  size_t max_headers = 100;       // number of header lines (431 beyond)
};

class RequestParser {
 public:
  enum class State {
    head,   // reading the request line and headers
    body,   // reading Content-Length bytes
    done,   // request() is complete; reset() to parse the next one
    error,  // error_status() says what to answer; the connection should then close
  };

  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Consumes bytes from `data` and returns how many it used. Stops early at the end of a
  // request (state done) or on an error; the unused bytes belong to the next request.
  size_t feed(std::string_view data);

  State state() const { return state_; }
  bool done() const { return state_ == State::done; }
  bool failed() const { return state_ == State::error; }
  int error_status() const { return error_status_; }
  const std::string& error_reason() const { return error_reason_; }
  // True once at least one byte of the current request arrived (for idle vs. mid-request).
  bool started() const { return started_; }

  Request& request() { return request_; }
  Request take_request() { return std::move(request_); }
  // Ready for the next request on the same connection (keeps buffer capacity).
  void reset();

 private:
  bool parse_head();
  void fail(int status, std::string reason);

  ParserLimits limits_;
  State state_ = State::head;
  bool started_ = false;
  int error_status_ = 0;
  std::string error_reason_;
  std::string head_;  // bytes of the head so far
  size_t body_left_ = 0;
  Request request_;
};

}  // namespace chat::http
