// See keys.hpp.
#include "chat/store/keys.hpp"

#include "chat/proto/snowflake.hpp"

namespace chat::store {

void put_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void put_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint32_t get_be32(std::string_view in) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

uint64_t get_be64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

uint32_t bucket_of(uint64_t message_id, uint64_t bucket_ms) {
  if (bucket_ms == 0) bucket_ms = 1;
  return static_cast<uint32_t>(snowflake_unix_ms(message_id) / bucket_ms);
}

std::string message_key_at(uint64_t channel_id, uint32_t bucket, uint64_t message_id) {
  std::string key;
  key.reserve(kMessageKeySize);
  put_be64(key, channel_id);
  put_be32(key, bucket);
  put_be64(key, message_id);
  return key;
}

std::string message_key(uint64_t channel_id, uint64_t message_id, uint64_t bucket_ms) {
  return message_key_at(channel_id, bucket_of(message_id, bucket_ms), message_id);
}

std::string channel_begin(uint64_t channel_id) {
  std::string key;
  put_be64(key, channel_id);
  return key;
}

std::string channel_end(uint64_t channel_id) {
  if (channel_id != UINT64_MAX) return channel_begin(channel_id + 1);
  // Past channel|FFFFFFFF|FF..FF: that key followed by one more byte.
  std::string key(kMessageKeySize, '\xff');
  key.push_back('\0');
  return key;
}

std::string channel_last(uint64_t channel_id) {
  return message_key_at(channel_id, UINT32_MAX, UINT64_MAX);
}

bool decode_message_key(std::string_view key, MessageKey& out) {
  if (key.size() != kMessageKeySize) return false;
  out.channel_id = get_be64(key);
  out.bucket = get_be32(key.substr(8));
  out.message_id = get_be64(key.substr(12));
  return true;
}

std::string prefix_successor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto last = static_cast<uint8_t>(s.back());
    if (last != 0xff) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

}  // namespace chat::store
