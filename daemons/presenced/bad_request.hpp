// What presenced can say about a presence request it could not decode, so that the log
// line that drops it is enough to tell a bug in a sender from bytes damaged on the way.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chat::presenced {

struct BadRequest {
  std::string op;     // the request's op when the map has a string "op"; empty otherwise
  std::string field;  // the first field whose value has the wrong type, or what is wrong
                      // with the message as a whole ("not a map", "a key that is not a
                      // string", "not msgpack"); empty when nothing was found
  size_t bytes = 0;   // the message's size
  std::string head;   // its first bytes in hex (at most kHeadBytes)
};

inline constexpr size_t kHeadBytes = 24;

// Looks at `bytes`, which proto::unpack refused as a PresenceRequest.
BadRequest describe_bad_request(std::string_view bytes);

}  // namespace chat::presenced
