// See response_parser.hpp. One state per part of the message; chunk-size lines, chunk
// CRLFs and trailers are gathered in line_ a byte range at a time.
#include "chat/http/response_parser.hpp"

#include <charconv>

namespace chat::http {
namespace {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

size_t find_head_end(std::string_view s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    if (s[i] != '\n') continue;
    if (i + 1 < s.size() && s[i + 1] == '\n') return i + 2;
    if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

}  // namespace

void ResponseParser::reset() {
  state_ = State::head;
  error_.clear();
  line_.clear();
  status_ = 0;
  version_minor_ = 1;
  headers_.clear();
  body_.clear();
  left_ = 0;
  keep_alive_ = true;
  head_request_ = false;
}

void ResponseParser::fail(std::string why) {
  state_ = State::error;
  error_ = std::move(why);
  keep_alive_ = false;
}

bool ResponseParser::parse_head() {
  std::string_view head = line_;
  auto next_line = [&head]() {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  std::string_view line = next_line();
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    fail("malformed status line");
    return false;
  }
  version_minor_ = line[7] - '0';
  int status = 0;
  auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc() || p != line.data() + 12 || status < 100 || status > 999 ||
      (line.size() > 12 && line[12] != ' ')) {
    fail("malformed status code");
    return false;
  }
  status_ = status;
  while (!head.empty()) {
    line = next_line();
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      fail("malformed header field");
      return false;
    }
    headers_.add(std::string(line.substr(0, colon)), std::string(trim_ows(line.substr(colon + 1))));
  }
  line_.clear();
  keep_alive_ = headers_.has_token("Connection", "close")
                    ? false
                    : (version_minor_ >= 1 || headers_.has_token("Connection", "keep-alive"));
  if (head_request_ || (status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304) {
    state_ = State::done;
    return true;
  }
  if (headers_.has("Transfer-Encoding")) {
    if (!headers_.has_token("Transfer-Encoding", "chunked")) {
      state_ = State::until_close;
      keep_alive_ = false;
      return true;
    }
    state_ = State::chunk_size;
    return true;
  }
  if (const std::string* cl = headers_.find("Content-Length")) {
    uint64_t n = 0;
    auto [q, ec2] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
    if (cl->empty() || ec2 != std::errc() || q != cl->data() + cl->size()) {
      fail("bad Content-Length");
      return false;
    }
    if (n > max_body_) {
      fail("response body too large");
      return false;
    }
    left_ = size_t(n);
    body_.reserve(left_);
    state_ = left_ == 0 ? State::done : State::body;
    return true;
  }
  state_ = State::until_close;
  keep_alive_ = false;
  return true;
}

size_t ResponseParser::feed(std::string_view data) {
  size_t used = 0;
  while (used < data.size()) {
    switch (state_) {
      case State::head: {
        size_t old = line_.size();
        size_t take = std::min(max_head_ + 1 - old, data.size() - used);
        line_.append(data.data() + used, take);
        size_t end = find_head_end(line_, old >= 2 ? old - 2 : 0);
        if (end == std::string::npos) {
          used += take;
          if (line_.size() > max_head_) fail("response head too large");
          break;
        }
        used += end - old;
        line_.resize(end);
        parse_head();
        break;
      }
      case State::body: {
        size_t take = std::min(left_, data.size() - used);
        body_.append(data.data() + used, take);
        used += take;
        left_ -= take;
        if (left_ == 0) state_ = State::done;
        break;
      }
      case State::until_close: {
        size_t take = data.size() - used;
        if (body_.size() + take > max_body_) {
          fail("response body too large");
          return used;
        }
        body_.append(data.data() + used, take);
        used += take;
        break;
      }
      case State::chunk_size:
      case State::chunk_crlf:
      case State::trailers: {
        size_t nl = data.find('\n', used);
        size_t end = nl == std::string_view::npos ? data.size() : nl + 1;
        line_.append(data.data() + used, end - used);
        used = end;
        if (line_.size() > 4096) {
          fail("chunk line too long");
          return used;
        }
        if (nl == std::string_view::npos) break;
        std::string_view line = trim_ows(std::string_view(line_).substr(0, line_.size() - 1));
        if (state_ == State::chunk_crlf) {
          if (!line.empty()) {
            fail("missing CRLF after chunk");
            return used;
          }
          state_ = State::chunk_size;
        } else if (state_ == State::trailers) {
          if (line.empty()) state_ = State::done;
        } else {
          line = line.substr(0, line.find(';'));
          line = trim_ows(line);
          uint64_t n = 0;
          auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), n, 16);
          if (line.empty() || ec != std::errc() || p != line.data() + line.size()) {
            fail("bad chunk size");
            return used;
          }
          if (n > max_body_ || body_.size() + n > max_body_) {
            fail("response body too large");
            return used;
          }
          left_ = size_t(n);
          state_ = n == 0 ? State::trailers : State::chunk_data;
        }
        line_.clear();
        break;
      }
      case State::chunk_data: {
        size_t take = std::min(left_, data.size() - used);
        body_.append(data.data() + used, take);
        used += take;
        left_ -= take;
        if (left_ == 0) state_ = State::chunk_crlf;
        break;
      }
      case State::done:
      case State::error:
        return used;
    }
  }
  return used;
}

void ResponseParser::finish() {
  if (state_ == State::until_close) {
    state_ = State::done;
    keep_alive_ = false;
  } else if (state_ != State::done && state_ != State::error) {
    fail(state_ == State::head && line_.empty() ? "connection closed before a response"
                                                : "connection closed mid-response");
  }
}

}  // namespace chat::http
