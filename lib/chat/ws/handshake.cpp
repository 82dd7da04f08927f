// See handshake.hpp. Base64 is written out here rather than taken from OpenSSL's
// EVP_EncodeBlock/EVP_DecodeBlock, whose decoder does not report padding and pads the
// output with zeros, which is the wrong tool for checking that a key is exactly 16 bytes.
#include "chat/ws/handshake.hpp"

#include <openssl/sha.h>

#include <cstring>

#include "chat/ws/frame.hpp"

namespace chat::ws {
namespace {

constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return uint32_t(uint8_t(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    uint32_t v = at(i) << 16;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += "==";
  } else if (bytes.size() - i == 2) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return false;  // data after padding
      v[k] = b64_value(c);
      if (v[k] < 0) return false;
    }
    uint32_t w = uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | v[3];
    out += char(w >> 16);
    if (pad < 2) out += char((w >> 8) & 0xFF);
    if (pad < 1) out += char(w & 0xFF);
  }
  return true;
}

std::string compute_accept(std::string_view key) {
  std::string input;
  input.reserve(key.size() + guid.size());
  input.append(key);
  input.append(guid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return base64_encode(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

std::string random_key() {
  char bytes[16];
  for (int i = 0; i < 16; i += 4) {
    uint32_t r = random_u32();
    std::memcpy(bytes + i, &r, 4);
  }
  return base64_encode(std::string_view(bytes, sizeof bytes));
}

HandshakeCheck check_server_handshake(const http::Request& request) {
  HandshakeCheck c;
  auto bad = [&c](int status, std::string why) {
    c.status = status;
    c.error = std::move(why);
    return c;
  };
  if (request.method != "GET") return bad(400, "websocket upgrade must be GET");
  if (request.version_minor < 1) return bad(400, "websocket upgrade needs HTTP/1.1");
  if (!request.headers.has_token("Upgrade", "websocket"))
    return bad(400, "missing Upgrade: websocket");
  if (!request.headers.has_token("Connection", "upgrade"))
    return bad(400, "missing Connection: upgrade");
  if (trim(request.headers.get("Sec-WebSocket-Version")) != "13")
    return bad(426, "unsupported Sec-WebSocket-Version (13 only)");
  std::string_view key = trim(request.headers.get("Sec-WebSocket-Key"));
  std::string raw;
  if (key.empty() || !base64_decode(key, raw) || raw.size() != 16)
    return bad(400, "Sec-WebSocket-Key is not 16 bytes in base64");
  c.accept = compute_accept(key);
  return c;
}

std::string server_handshake_response(std::string_view accept, std::string_view extra_headers) {
  std::string out;
  out.reserve(160 + extra_headers.size());
  out.append(
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  out.append(accept);
  out.append("\r\n");
  out.append(extra_headers);
  out.append("\r\n");
  return out;
}

http::Response handshake_error_response(const HandshakeCheck& check) {
  http::Response r = http::Response::error(check.status ? check.status : 400, check.error);
  if (check.status == 426) r.headers.add("Sec-WebSocket-Version", "13");
  return r;
}

std::string client_handshake_request(std::string_view host_header, std::string_view target,
                                     std::string_view key, const http::Headers& extra) {
  std::string out;
  out.reserve(256);
  out.append("GET ");
  out.append(target.empty() ? std::string_view("/") : target);
  out.append(" HTTP/1.1\r\nHost: ");
  out.append(host_header);
  out.append(
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: ");
  out.append(key);
  out.append("\r\n");
  for (const auto& [name, value] : extra) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  out.append("\r\n");
  return out;
}

std::string check_client_handshake(int status, const http::Headers& headers, std::string_view key) {
  if (status != 101) return "server answered " + std::to_string(status) + ", not 101";
  if (!headers.has_token("Upgrade", "websocket")) return "missing Upgrade: websocket";
  if (!headers.has_token("Connection", "upgrade")) return "missing Connection: upgrade";
  if (trim(headers.get("Sec-WebSocket-Accept")) != compute_accept(key))
    return "wrong Sec-WebSocket-Accept";
  return {};
}

}  // namespace chat::ws
