// The WebSocket opening handshake (RFC 6455 §4): checking a client's upgrade request and
// answering it on the server side, building the request and checking the answer on the
// client side. Sec-WebSocket-Accept is base64(SHA-1(key + GUID)) via OpenSSL.
#pragma once

#include <string>
#include <string_view>

#include "chat/http/message.hpp"

namespace chat::ws {

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string compute_accept(std::string_view key);
// A fresh Sec-WebSocket-Key: 16 random bytes in base64.
std::string random_key();

std::string base64_encode(std::string_view bytes);
// False on malformed input (padding required).
bool base64_decode(std::string_view text, std::string& out);

struct HandshakeCheck {
  int status = 0;      // 0 when the request is a valid upgrade; else the HTTP status to send
  std::string error;   // why not, for the response body and logs
  std::string accept;  // Sec-WebSocket-Accept to send when valid
  bool ok() const { return status == 0; }
};

// GET, HTTP/1.1, "Upgrade: websocket", Connection with an "upgrade" token,
// Sec-WebSocket-Version 13 (else 426 with Sec-WebSocket-Version: 13), and a key that is
// 16 bytes in base64.
HandshakeCheck check_server_handshake(const http::Request& request);

// The 101 Switching Protocols answer; extra_headers each end in "\r\n" if given.
std::string server_handshake_response(std::string_view accept, std::string_view extra_headers = {});
// The answer to a failed check (400 or 426) as a Response, for a plain HTTP handler.
http::Response handshake_error_response(const HandshakeCheck& check);

// The client's upgrade request for host[:port] and target ("/gateway?v=10").
std::string client_handshake_request(std::string_view host_header, std::string_view target,
                                     std::string_view key, const http::Headers& extra = {});
// Checks a server's answer: 101, Upgrade websocket, Connection upgrade, and the accept
// value for our key. Empty on success, else why not.
std::string check_client_handshake(int status, const http::Headers& headers, std::string_view key);

}  // namespace chat::ws
