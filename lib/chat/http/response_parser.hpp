// Incremental HTTP/1.1 response parser for our clients: status line, headers, and a body
// delimited by Content-Length, chunked transfer coding, or the end of the connection.
// Independent of any socket so the unit tests can feed it byte by byte.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "chat/http/message.hpp"

namespace chat::http {

class ResponseParser {
 public:
  enum class State {
    head,
    body,
    chunk_size,
    chunk_data,
    chunk_crlf,
    trailers,
    until_close,
    done,
    error
  };

  explicit ResponseParser(size_t max_body = 64 << 20, size_t max_head = 64 * 1024)
      : max_body_(max_body), max_head_(max_head) {}

  // Set before feeding when the request was HEAD (no body follows whatever the headers).
  void set_head_request(bool head) { head_request_ = head; }
  // Consumes bytes; returns how many were used (stops at the end of a response).
  size_t feed(std::string_view data);
  // The peer closed: completes a read-until-close body, otherwise an error if incomplete.
  void finish();

  State state() const { return state_; }
  bool done() const { return state_ == State::done; }
  bool failed() const { return state_ == State::error; }
  const std::string& error() const { return error_; }

  int status() const { return status_; }
  Headers& headers() { return headers_; }
  std::string& body() { return body_; }
  // Whether the connection may carry another request after this response.
  bool keep_alive() const { return keep_alive_; }
  void reset();

 private:
  bool parse_head();
  void fail(std::string why);

  size_t max_body_, max_head_;
  bool head_request_ = false;
  State state_ = State::head;
  std::string error_;
  std::string line_;  // head bytes, or a chunk-size / trailer line in progress
  int status_ = 0;
  int version_minor_ = 1;
  Headers headers_;
  std::string body_;
  size_t left_ = 0;
  bool keep_alive_ = true;
};

}  // namespace chat::http
