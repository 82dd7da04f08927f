// libFuzzer target for the HTTP request parser (and, on the same bytes, the response
// parser). The first byte picks how the input is split into reads. Requests that parse
// must satisfy the limits; errors must be one of the statuses the parser documents.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "chat/http/request_parser.hpp"
#include "chat/http/response_parser.hpp"

using namespace chat::http;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t step = 1 + data[0] % 97;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  ParserLimits limits;
  limits.max_head = 2048;
  limits.max_body = 4096;
  RequestParser req(limits);
  ResponseParser resp(8192, 2048);
  bool resp_done = false;
  for (size_t off = 0; off < input.size(); off += step) {
    std::string_view piece = input.substr(off, step);
    std::string_view rpiece = piece;
    while (!piece.empty() && !req.failed()) {
      size_t n = req.feed(piece);
      check(n <= piece.size());
      piece.remove_prefix(n);
      if (req.done()) {
        Request& r = req.request();
        check(!r.method.empty() && !r.target.empty());
        check(r.body.size() <= limits.max_body);
        check(r.path.empty() || r.path[0] == '/' || r.path == "*");
        (void)r.keep_alive();
        (void)r.is_upgrade();
        req.reset();
      } else if (n == 0) {
        break;
      }
    }
    if (req.failed()) {
      int s = req.error_status();
      check(s == 400 || s == 411 || s == 413 || s == 431 || s == 501 || s == 505);
    }
    while (!rpiece.empty() && !resp_done) {
      size_t n = resp.feed(rpiece);
      check(n <= rpiece.size());
      rpiece.remove_prefix(n);
      if (resp.done() || resp.failed()) resp_done = true;
      if (n == 0) break;
    }
  }
  resp.finish();
  if (resp.done()) check(resp.body().size() <= 8192);
  return 0;
}
