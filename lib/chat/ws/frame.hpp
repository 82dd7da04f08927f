// RFC 6455 framing: an incremental frame parser that reassembles fragmented messages and
// enforces the protocol's rules, and the encoders for both directions. The parser turns
// every violation into the close code to send: 1002 protocol errors (masking, RSV bits,
// unknown opcodes, bad control frames, bad close codes), 1007 invalid UTF-8 in text or
// close reasons, 1009 messages over the size limit. Its state is a few dozen bytes plus
// the message being reassembled, which is released once a large message is delivered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chat/ws/utf8.hpp"

namespace chat::ws {

enum class Opcode : uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Close codes we send or interpret (RFC 6455 §7.4.1).
namespace close_code {
constexpr uint16_t normal = 1000;
constexpr uint16_t going_away = 1001;
constexpr uint16_t protocol_error = 1002;
constexpr uint16_t unsupported_data = 1003;
constexpr uint16_t no_status = 1005;  // never on the wire: the close frame had no code
constexpr uint16_t abnormal = 1006;   // never on the wire: the connection just dropped
constexpr uint16_t invalid_payload = 1007;
constexpr uint16_t policy_violation = 1008;
constexpr uint16_t message_too_big = 1009;
constexpr uint16_t mandatory_extension = 1010;
constexpr uint16_t internal_error = 1011;
}  // namespace close_code

// Whether a code may appear in a close frame: 1000-1003, 1007-1011 (and 1012-1014, which
// IANA has since assigned), 3000-4999. 1004-1006, 1015, other 1xxx and <1000 may not.
bool valid_close_code(uint16_t code);

// Which end parses: a server requires masked frames, a client requires unmasked ones.
enum class Role : uint8_t { server, client };

// One thing the parser found. Payload and reason views point into the parser and stay
// valid until the next call to parse().
struct FrameEvent {
  enum class Kind : uint8_t {
    none,     // needs more bytes
    message,  // a complete text or binary message (fragments joined)
    ping,
    pong,
    close,  // peer's close: code (1005 if it sent none) and reason
    error,  // protocol violation: code is the close code to send, reason says why
  };
  Kind kind = Kind::none;
  Opcode opcode = Opcode::binary;  // for message: text or binary
  uint16_t code = 0;               // for close and error
  std::string_view payload;        // message / ping / pong payload
  std::string_view reason;         // close reason or error description
};

class FrameParser {
 public:
  explicit FrameParser(Role role, size_t max_message = 1 << 20)
      : max_message_(max_message), role_(role) {}

  // Consumes bytes and stops after at most one event. Returns bytes used; loop until
  // nothing is used and no event comes out. After an error the parser stays failed and
  // consumes nothing.
  size_t parse(std::string_view data, FrameEvent& event);

  bool failed() const { return state_ == State::failed; }
  void set_max_message(size_t n) { max_message_ = n; }
  // Frees reassembly buffers between messages (idle connections keep nothing); inside a
  // message, only oversized spare capacity. Invalidates the views of the last event.
  void shrink();

 private:
  enum class State : uint8_t { header, payload, failed };
  size_t fail(FrameEvent& event, uint16_t code, std::string_view why, size_t used);
  size_t finish_frame(FrameEvent& event, size_t used);

  size_t max_message_;
  uint64_t payload_left_ = 0;
  std::string message_;  // reassembled data message so far
  std::string control_;  // control frame payload (at most 125 bytes)
  uint8_t header_[14];
  uint8_t header_len_ = 0;
  uint8_t mask_[4];
  uint8_t mask_pos_ = 0;
  Role role_;
  State state_ = State::header;
  uint8_t frame_opcode_ = 0;  // opcode of the frame being read
  bool frame_fin_ = false;
  bool masked_ = false;
  bool in_message_ = false;     // a fragmented message is open
  bool clear_message_ = false;  // message_ was delivered; clear on the next parse()
  Opcode message_opcode_ = Opcode::binary;
  Utf8Validator utf8_;
};

// Largest header: 2 + 8 (length) + 4 (mask).
constexpr size_t max_header_size = 14;

// Writes a frame header into `out` and returns its length. mask_key is null for server
// frames (unmasked) and four bytes for client frames.
size_t encode_header(uint8_t* out, Opcode opcode, uint64_t payload_len, bool fin,
                     const uint8_t* mask_key);

// A complete unmasked frame (server to client). Encode once, send_raw_frame() to many.
std::string encode_server_frame(Opcode opcode, std::string_view payload, bool fin = true);
void append_server_frame(std::string& out, Opcode opcode, std::string_view payload,
                         bool fin = true);
// A complete masked frame (client to server) with a fresh random key.
std::string encode_client_frame(Opcode opcode, std::string_view payload, bool fin = true);
// The payload of a close frame: code in network order, then the reason truncated at a
// UTF-8 boundary so the whole payload fits a control frame (125 bytes). Code 1005 (or 0)
// gives an empty payload.
std::string close_payload(uint16_t code, std::string_view reason);

// XORs bytes with the mask, starting at mask position `pos` (0-3); returns the next pos.
size_t apply_mask(uint8_t* data, size_t len, const uint8_t key[4], size_t pos = 0);
// Fast non-cryptographic random bits for masking keys (RFC 6455 §5.3 asks only that they
// be unpredictable to the application; this is xorshift seeded from the OS).
uint32_t random_u32();

}  // namespace chat::ws
