// Tokens: base64url, SHA-256, and the token format (base64url(decimal id) "." 32 random
// bytes), which authentication relies on.
#include <catch2/catch.hpp>

#include "../../../daemons/guildd/tokens.hpp"

using namespace chat::guildd;

namespace {
std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}
}  // namespace

TEST_CASE("base64url matches RFC 4648 vectors without padding", "[guildd][tokens]") {
  CHECK(base64url_encode("") == "");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  CHECK(base64url_encode("foo") == "Zm9v");
  CHECK(base64url_encode("foob") == "Zm9vYg");
  CHECK(base64url_encode("fooba") == "Zm9vYmE");
  CHECK(base64url_encode("foobar") == "Zm9vYmFy");
  CHECK(base64url_encode(std::string("\xfb\xff", 2)) == "-_8");  // url-safe alphabet
  std::string out;
  REQUIRE(base64url_decode("Zm9vYmE", out));
  CHECK(out == "fooba");
  REQUIRE(base64url_decode("-_8", out));
  CHECK(out == std::string("\xfb\xff", 2));
  CHECK_FALSE(base64url_decode("Zm9v=", out));  // padding is not ours
  CHECK_FALSE(base64url_decode("Zm+v", out));   // standard alphabet is not ours
  CHECK_FALSE(base64url_decode("Z", out));      // impossible length
}

TEST_CASE("sha256 gives the raw 32-byte digest", "[guildd][tokens]") {
  CHECK(hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256("").size() == 32);
}

TEST_CASE("a token names its user and carries 32 random bytes", "[guildd][tokens]") {
  uint64_t id = 1234567890123456789ULL;
  std::string t = make_token(id);
  REQUIRE_FALSE(t.empty());
  auto dot = t.find('.');
  REQUIRE(dot != std::string::npos);
  CHECK(t.find('.', dot + 1) == std::string::npos);
  std::string first, secret;
  REQUIRE(base64url_decode(t.substr(0, dot), first));
  CHECK(first == "1234567890123456789");
  REQUIRE(base64url_decode(t.substr(dot + 1), secret));
  CHECK(secret.size() == 32);
  CHECK(token_user_id(t) == id);
  CHECK(make_token(id) != t);  // fresh randomness every time
  CHECK(sha256(make_token(id)) != sha256(t));
}

TEST_CASE("token_user_id rejects tokens not of our shape", "[guildd][tokens]") {
  CHECK(token_user_id("") == 0);
  CHECK(token_user_id("nodot") == 0);
  CHECK(token_user_id("!!.abc") == 0);
  CHECK(token_user_id(base64url_encode("12x") + ".abc") == 0);
  CHECK(token_user_id(base64url_encode("0") + ".abc") == 0);
  CHECK(token_user_id(base64url_encode("42") + ".anything") == 42);
}
