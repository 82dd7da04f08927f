// See zlib_stream.hpp. Both halves keep one z_stream for the connection's life: the
// dictionary carries over from payload to payload, which is where zlib-stream gets its
// ratio on repetitive JSON. Output grows in steps sized from deflateBound, so a payload
// normally needs one deflate() call.
#include "chat/ws/zlib_stream.hpp"

#include <zlib.h>

#include <cstring>

namespace chat::ws {

struct ZlibDeflater::State {
  z_stream z{};
};

ZlibDeflater::ZlibDeflater(int level, int window_bits, int mem_level)
    : state_(std::make_unique<State>()) {
  if (window_bits < 9) window_bits = 9;
  if (window_bits > 15) window_bits = 15;
  if (mem_level < 1) mem_level = 1;
  if (mem_level > 9) mem_level = 9;
  ok_ = deflateInit2(&state_->z, level, Z_DEFLATED, window_bits, mem_level, Z_DEFAULT_STRATEGY) ==
        Z_OK;
}

ZlibDeflater::~ZlibDeflater() {
  if (ok_) deflateEnd(&state_->z);
}

bool ZlibDeflater::compress(std::string_view in, std::string& out) {
  if (!ok_) return false;
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  size_t start = out.size();
  size_t room = deflateBound(&z, in.size()) + 16;
  for (;;) {
    size_t old = out.size();
    out.resize(old + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    z.avail_out = static_cast<uInt>(room);
    int rc = deflate(&z, Z_SYNC_FLUSH);
    out.resize(old + (room - z.avail_out));
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      deflateEnd(&z);
      ok_ = false;
      return false;
    }
    // Done when all input is used and deflate had room to spare (the flush is complete).
    if (z.avail_in == 0 && z.avail_out != 0) break;
    room = room < 4096 ? 4096 : room;
  }
  return ends_with_sync_flush(std::string_view(out).substr(start));
}

struct ZlibInflater::State {
  z_stream z{};
};

ZlibInflater::ZlibInflater() : state_(std::make_unique<State>()) {
  ok_ = inflateInit2(&state_->z, 15) == Z_OK;
}

ZlibInflater::~ZlibInflater() {
  if (ok_) inflateEnd(&state_->z);
}

bool ZlibInflater::feed(std::string_view in, std::string& out) {
  if (!ok_) return false;
  std::string_view data = in;
  if (!pending_.empty() || !ends_with_sync_flush(in)) {
    pending_.append(in);
    if (!ends_with_sync_flush(pending_)) return true;
    data = pending_;
  }
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  char buf[16384];
  bool good = true;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    size_t got = sizeof buf - z.avail_out;
    out.append(buf, got);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && got == 0) break;  // nothing more to do with this input
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      good = false;
      break;
    }
  } while (z.avail_in > 0 || z.avail_out == 0);
  pending_.clear();
  if (!good) {
    inflateEnd(&z);
    ok_ = false;
  }
  return good;
}

bool ends_with_sync_flush(std::string_view bytes) {
  return bytes.size() >= 4 &&
         std::memcmp(bytes.data() + bytes.size() - 4, "\x00\x00\xff\xff", 4) == 0;
}

}  // namespace chat::ws
