// Bearer tokens for users and bots. A token is `base64url(decimal user id)` "." followed by
// 32 random bytes (OpenSSL RAND_bytes) in base64url, the shape Discord bot tokens have, so
// libraries that peek at the first part find the user id there. guildd never stores a
// token: only its SHA-256 digest, which is what authentication looks up.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chat::guildd {

// RFC 4648 section 5 alphabet, without padding.
std::string base64url_encode(std::string_view bytes);
// Accepts unpadded input only; false on any character outside the alphabet.
bool base64url_decode(std::string_view text, std::string& out);

// Raw 32-byte SHA-256 digest.
std::string sha256(std::string_view data);

// A fresh token for `user_id`; "" if the random source failed (never a weak token).
std::string make_token(uint64_t user_id);

// The user id a token names in its first part, 0 when the token is not of our shape.
// Only a hint: authentication is the digest lookup, and the two must agree.
uint64_t token_user_id(std::string_view token);

}  // namespace chat::guildd
