// See request_parser.hpp. The head is gathered into one string until the blank line that
// ends it (so a head split across reads is parsed once, whole), then split into lines in
// place. The body is appended straight into the Request. Lines may end in CRLF or a bare
// LF (RFC 9112 §2.2 allows recipients to accept the latter).
#include "chat/http/request_parser.hpp"

#include <charconv>

namespace chat::http {
namespace {

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Finds the end of the head (index just past the blank line) searching from `from`.
size_t find_head_end(std::string_view s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    if (s[i] != '\n') continue;
    if (i + 1 < s.size() && s[i + 1] == '\n') return i + 2;
    if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

}  // namespace

void RequestParser::reset() {
  state_ = State::head;
  started_ = false;
  error_status_ = 0;
  error_reason_.clear();
  head_.clear();
  body_left_ = 0;
  request_ = Request{};
}

void RequestParser::fail(int status, std::string reason) {
  state_ = State::error;
  error_status_ = status;
  error_reason_ = std::move(reason);
}

size_t RequestParser::feed(std::string_view data) {
  size_t used = 0;
  if (state_ == State::head) {
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    if (head_.empty())
      while (used < data.size() && (data[used] == '\r' || data[used] == '\n')) ++used;
    if (used == data.size()) return used;
    started_ = true;
    size_t old = head_.size();
    size_t room = limits_.max_head + 1 - old;  // one byte over the limit proves it
    size_t take = std::min(room, data.size() - used);
    head_.append(data.data() + used, take);
    size_t end = find_head_end(head_, old >= 2 ? old - 2 : 0);
    if (end == std::string::npos) {
      if (head_.size() > limits_.max_head) {
        fail(431, "request head too large");
        return used + take;
      }
      return used + take;
    }
    used += end - old;
    head_.resize(end);
    if (!parse_head()) return used;
    if (body_left_ == 0) {
      state_ = State::done;
      return used;
    }
    state_ = State::body;
    request_.body.reserve(body_left_);
  }
  if (state_ == State::body) {
    size_t take = std::min(body_left_, data.size() - used);
    request_.body.append(data.data() + used, take);
    used += take;
    body_left_ -= take;
    if (body_left_ == 0) state_ = State::done;
  }
  return used;
}

bool RequestParser::parse_head() {
  std::string_view head = head_;
  auto next_line = [&head]() {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };

  // Request line: method SP target SP version.
  std::string_view line = next_line();
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    fail(400, "malformed request line");
    return false;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) {
    fail(400, "malformed method");
    return false;
  }
  if (target.empty()) {
    fail(400, "empty request target");
    return false;
  }
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) {
      fail(400, "bad character in request target");
      return false;
    }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/") {
    fail(400, "malformed HTTP version");
    return false;
  }
  if (version[5] != '1' || version[6] != '.' || (version[7] != '0' && version[7] != '1')) {
    fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
    return false;
  }
  request_.method.assign(method);
  request_.target.assign(target);
  request_.version_minor = version[7] - '0';

  // Origin form "/p?q"; absolute form "http://host/p?q" keeps only path and query.
  std::string_view path_query = target;
  if (target.front() != '/' && target != "*") {
    size_t scheme = target.find("://");
    if (scheme == std::string_view::npos) {
      fail(400, "bad request target");
      return false;
    }
    size_t slash = target.find('/', scheme + 3);
    path_query = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  size_t q = path_query.find('?');
  request_.path.assign(path_query.substr(0, q));
  if (q != std::string_view::npos) {
    request_.query.assign(path_query.substr(q + 1));
    request_.params = parse_query(request_.query);
  }

  // Header fields.
  bool have_length = false;
  uint64_t length = 0;
  while (!head.empty()) {
    line = next_line();
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      fail(400, "obsolete line folding");
      return false;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      fail(400, "malformed header field");
      return false;
    }
    if (request_.headers.size() >= limits_.max_headers) {
      fail(431, "too many header fields");
      return false;
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim_ows(line.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F) {
        fail(400, "bad character in header value");
        return false;
      }
    if (iequals(name, "Content-Length")) {
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || p != value.data() + value.size() ||
          (have_length && v != length)) {
        fail(400, "bad Content-Length");
        return false;
      }
      have_length = true;
      length = v;
    }
    request_.headers.add(std::string(name), std::string(value));
  }
  if (request_.headers.has("Transfer-Encoding")) {
    if (have_length) {
      fail(400, "both Transfer-Encoding and Content-Length");
      return false;
    }
    if (request_.headers.has_token("Transfer-Encoding", "chunked"))
      fail(411, "chunked request bodies are not accepted; send Content-Length");
    else
      fail(501, "unsupported Transfer-Encoding");
    return false;
  }
  if (request_.version_minor == 1 && !request_.headers.has("Host")) {
    fail(400, "missing Host header");
    return false;
  }
  if (length > limits_.max_body) {
    fail(413, "request body too large");
    return false;
  }
  body_left_ = static_cast<size_t>(length);
  return true;
}

}  // namespace chat::http
