// See frame.hpp. The parser is a two-state machine (header, payload) that copies header
// bytes into a 14-byte array, so a header split across reads costs nothing extra, and
// unmasks payload bytes as it appends them to the message (or control) buffer. Rules are
// checked as soon as the bytes that decide them arrive: opcode, RSV and mask bits after two
// bytes, sizes after the length, UTF-8 on every payload piece of a text message.
#include "chat/ws/frame.hpp"

#include <sys/random.h>

#include <cstring>
#include <random>

namespace chat::ws {
namespace {

constexpr size_t max_control_payload = 125;
constexpr size_t keep_capacity = 16 * 1024;  // larger reassembly buffers are released

bool is_control(uint8_t opcode) {
  return opcode & 0x8;
}

}  // namespace

bool valid_close_code(uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  if (code < 1000 || code > 1014) return false;
  return code != 1004 && code != 1005 && code != 1006;
}

void FrameParser::shrink() {
  // Between messages nothing needs keeping; inside one, only oversized buffers go.
  if (state_ != State::payload && !in_message_) {
    clear_message_ = false;
    std::string().swap(message_);
    std::string().swap(control_);
  } else if (message_.capacity() > keep_capacity && message_.empty()) {
    std::string().swap(message_);
  }
}

size_t FrameParser::fail(FrameEvent& event, uint16_t code, std::string_view why, size_t used) {
  state_ = State::failed;
  event.kind = FrameEvent::Kind::error;
  event.code = code;
  event.reason = why;
  std::string().swap(message_);
  return used;
}

size_t FrameParser::parse(std::string_view data, FrameEvent& event) {
  event = FrameEvent{};
  if (state_ == State::failed) return 0;
  if (clear_message_) {
    clear_message_ = false;
    message_.clear();
    if (message_.capacity() > keep_capacity) std::string().swap(message_);
  }
  size_t used = 0;
  while (used < data.size()) {
    if (state_ == State::header) {
      // Gather the two fixed bytes, check what they decide, then the rest of the header.
      size_t need = 2;
      if (header_len_ >= 2) {
        uint8_t len7 = header_[1] & 0x7F;
        need += (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked_ ? 4 : 0);
      }
      while (header_len_ < need && used < data.size()) header_[header_len_++] = data[used++];
      if (header_len_ < need) break;
      if (need == 2) {
        uint8_t b0 = header_[0], b1 = header_[1];
        frame_fin_ = b0 & 0x80;
        frame_opcode_ = b0 & 0x0F;
        masked_ = b1 & 0x80;
        if (b0 & 0x70) return fail(event, close_code::protocol_error, "reserved bits set", used);
        if (masked_ != (role_ == Role::server))
          return fail(event, close_code::protocol_error,
                      role_ == Role::server ? "client frame not masked" : "server frame masked",
                      used);
        if (is_control(frame_opcode_)) {
          if (frame_opcode_ > 0xA)
            return fail(event, close_code::protocol_error, "unknown opcode", used);
          if (!frame_fin_)
            return fail(event, close_code::protocol_error, "fragmented control frame", used);
          if ((b1 & 0x7F) > max_control_payload)
            return fail(event, close_code::protocol_error, "control frame too long", used);
        } else if (frame_opcode_ > 0x2) {
          return fail(event, close_code::protocol_error, "unknown opcode", used);
        } else if (frame_opcode_ == 0 && !in_message_) {
          return fail(event, close_code::protocol_error, "continuation without a message", used);
        } else if (frame_opcode_ != 0 && in_message_) {
          return fail(event, close_code::protocol_error, "new message inside a fragmented one",
                      used);
        }
        if ((b1 & 0x7F) >= 126 || masked_) continue;  // more header bytes to come
      }
      // Header complete.
      uint8_t len7 = header_[1] & 0x7F;
      uint64_t len = len7;
      size_t pos = 2;
      if (len7 == 126) {
        len = (uint64_t(header_[2]) << 8) | header_[3];
        pos = 4;
      } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | header_[2 + i];
        pos = 10;
        if (len >> 63)
          return fail(event, close_code::protocol_error, "frame length has the high bit set", used);
      }
      if (masked_) std::memcpy(mask_, header_ + pos, 4);
      mask_pos_ = 0;
      header_len_ = 0;
      if (!is_control(frame_opcode_)) {
        if (len > max_message_ || message_.size() + len > max_message_)
          return fail(event, close_code::message_too_big, "message too big", used);
        if (frame_opcode_ != 0) {
          in_message_ = true;
          message_opcode_ = static_cast<Opcode>(frame_opcode_);
          utf8_.reset();
        }
        // Reserve for the whole frame when the peer says how much is coming; cap what we
        // trust before the bytes arrive.
        if (len > 0 && len <= (1u << 20)) message_.reserve(message_.size() + len);
      } else {
        control_.clear();
      }
      payload_left_ = len;
      state_ = State::payload;
      if (len == 0) return finish_frame(event, used);
      continue;
    }

    // Payload bytes.
    size_t n = data.size() - used;
    if (n > payload_left_) n = payload_left_;
    std::string& target = is_control(frame_opcode_) ? control_ : message_;
    size_t start = target.size();
    target.append(data.data() + used, n);
    used += n;
    payload_left_ -= n;
    if (masked_)
      mask_pos_ =
          apply_mask(reinterpret_cast<uint8_t*>(target.data() + start), n, mask_, mask_pos_);
    if (!is_control(frame_opcode_) && message_opcode_ == Opcode::text &&
        !utf8_.feed(std::string_view(target).substr(start)))
      return fail(event, close_code::invalid_payload, "invalid UTF-8 in text message", used);
    if (payload_left_ == 0) return finish_frame(event, used);
  }
  return used;
}

size_t FrameParser::finish_frame(FrameEvent& event, size_t used) {
  state_ = State::header;
  switch (static_cast<Opcode>(frame_opcode_)) {
    case Opcode::ping:
      event.kind = FrameEvent::Kind::ping;
      event.payload = control_;
      return used;
    case Opcode::pong:
      event.kind = FrameEvent::Kind::pong;
      event.payload = control_;
      return used;
    case Opcode::close: {
      if (control_.size() == 1)
        return fail(event, close_code::protocol_error, "close payload of one byte", used);
      uint16_t code = close_code::no_status;
      std::string_view reason;
      if (control_.size() >= 2) {
        code = uint16_t((uint8_t(control_[0]) << 8) | uint8_t(control_[1]));
        if (!valid_close_code(code))
          return fail(event, close_code::protocol_error, "invalid close code", used);
        reason = std::string_view(control_).substr(2);
        if (!valid_utf8(reason))
          return fail(event, close_code::invalid_payload, "close reason is not UTF-8", used);
      }
      event.kind = FrameEvent::Kind::close;
      event.code = code;
      event.reason = reason;
      return used;
    }
    default:
      break;
  }
  if (!frame_fin_) return used;  // wait for the continuation frames
  if (message_opcode_ == Opcode::text && !utf8_.complete())
    return fail(event, close_code::invalid_payload, "text message ends inside a code point", used);
  in_message_ = false;
  clear_message_ = true;
  event.kind = FrameEvent::Kind::message;
  event.opcode = message_opcode_;
  event.payload = message_;
  return used;
}

size_t encode_header(uint8_t* out, Opcode opcode, uint64_t payload_len, bool fin,
                     const uint8_t* mask_key) {
  out[0] = uint8_t((fin ? 0x80 : 0) | uint8_t(opcode));
  uint8_t mask_bit = mask_key ? 0x80 : 0;
  size_t n;
  if (payload_len < 126) {
    out[1] = uint8_t(mask_bit | payload_len);
    n = 2;
  } else if (payload_len <= 0xFFFF) {
    out[1] = mask_bit | 126;
    out[2] = uint8_t(payload_len >> 8);
    out[3] = uint8_t(payload_len);
    n = 4;
  } else {
    out[1] = mask_bit | 127;
    for (int i = 0; i < 8; ++i) out[2 + i] = uint8_t(payload_len >> (56 - 8 * i));
    n = 10;
  }
  if (mask_key) {
    std::memcpy(out + n, mask_key, 4);
    n += 4;
  }
  return n;
}

void append_server_frame(std::string& out, Opcode opcode, std::string_view payload, bool fin) {
  uint8_t header[max_header_size];
  size_t n = encode_header(header, opcode, payload.size(), fin, nullptr);
  out.reserve(out.size() + n + payload.size());
  out.append(reinterpret_cast<const char*>(header), n);
  out.append(payload);
}

std::string encode_server_frame(Opcode opcode, std::string_view payload, bool fin) {
  std::string out;
  append_server_frame(out, opcode, payload, fin);
  return out;
}

std::string encode_client_frame(Opcode opcode, std::string_view payload, bool fin) {
  uint32_t r = random_u32();
  uint8_t key[4];
  std::memcpy(key, &r, 4);
  uint8_t header[max_header_size];
  size_t n = encode_header(header, opcode, payload.size(), fin, key);
  std::string out;
  out.reserve(n + payload.size());
  out.append(reinterpret_cast<const char*>(header), n);
  out.append(payload);
  apply_mask(reinterpret_cast<uint8_t*>(out.data() + n), payload.size(), key, 0);
  return out;
}

std::string close_payload(uint16_t code, std::string_view reason) {
  std::string out;
  if (code == 0 || code == close_code::no_status) return out;
  out.push_back(char(code >> 8));
  out.push_back(char(code & 0xFF));
  if (reason.size() > max_control_payload - 2) {
    size_t cut = max_control_payload - 2;
    // Back up to the start of a code point so the reason stays valid UTF-8.
    while (cut > 0 && (uint8_t(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  out.append(reason);
  return out;
}

size_t apply_mask(uint8_t* data, size_t len, const uint8_t key[4], size_t pos) {
  size_t i = 0;
  // Align the key to the position, then XOR eight bytes at a time.
  while (i < len && (pos & 3) != 0) {
    data[i++] ^= key[pos & 3];
    ++pos;
  }
  if (len - i >= 8) {
    uint8_t k8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    uint64_t k;
    std::memcpy(&k, k8, 8);
    for (; len - i >= 8; i += 8) {
      uint64_t w;
      std::memcpy(&w, data + i, 8);
      w ^= k;
      std::memcpy(data + i, &w, 8);
    }
  }
  for (; i < len; ++i, ++pos) data[i] ^= key[pos & 3];
  return pos & 3;
}

uint32_t random_u32() {
  thread_local uint64_t state = [] {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = std::random_device{}();
    return seed | 1;
  }();
  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return uint32_t((state * 0x2545F4914F6CDD1DULL) >> 32);
}

}  // namespace chat::ws
