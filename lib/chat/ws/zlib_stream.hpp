// Discord's transport compression, compress=zlib-stream: one zlib stream per connection
// for its whole life, each payload deflated and flushed with Z_SYNC_FLUSH so it ends in
// 00 00 FF FF and the client can inflate it at once; sent as a binary frame. The deflate
// state (about 256 KiB at the default window) exists only for connections that ask.
// Inflater is the client half, for tests, chatctl and the load generator.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace chat::ws {

class ZlibDeflater {
 public:
  // window_bits 9..15 and mem_level 1..9 trade memory for ratio; clients inflate with 15
  // and accept any smaller window.
  explicit ZlibDeflater(int level = 6, int window_bits = 15, int mem_level = 8);
  ~ZlibDeflater();
  ZlibDeflater(const ZlibDeflater&) = delete;
  ZlibDeflater& operator=(const ZlibDeflater&) = delete;

  // Appends the compressed bytes of `in` to `out`, ending in 00 00 FF FF. False on a zlib
  // error (the stream is then unusable).
  bool compress(std::string_view in, std::string& out);
  bool ok() const { return ok_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  bool ok_ = true;
};

class ZlibInflater {
 public:
  ZlibInflater();
  ~ZlibInflater();
  ZlibInflater(const ZlibInflater&) = delete;
  ZlibInflater& operator=(const ZlibInflater&) = delete;

  // Feeds received binary data. A payload is complete when the data ends in 00 00 FF FF;
  // then the decompressed bytes are appended to `out` and true is returned. While
  // incomplete it buffers and returns true with nothing appended. False on corrupt data.
  bool feed(std::string_view in, std::string& out);
  bool ok() const { return ok_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::string pending_;
  bool ok_ = true;
};

// True when bytes end with the Z_SYNC_FLUSH marker 00 00 FF FF.
bool ends_with_sync_flush(std::string_view bytes);

}  // namespace chat::ws
