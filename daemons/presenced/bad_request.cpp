// See bad_request.hpp.
#include "bad_request.hpp"

#include <msgpack.hpp>

#include "chat/proto/presence_ops.hpp"

namespace chat::presenced {

BadRequest describe_bad_request(std::string_view bytes) {
  BadRequest out;
  out.bytes = bytes.size();
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes.size() && i < kHeadBytes; ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out.head += digits[b >> 4];
    out.head += digits[b & 0xF];
  }

  msgpack::object_handle oh;
  try {
    oh = msgpack::unpack(bytes.data(), bytes.size());
  } catch (const std::exception&) {
    out.field = "not msgpack";
    return out;
  }
  const msgpack::object& o = oh.get();
  if (o.type != msgpack::type::MAP) {
    out.field = "not a map";
    return out;
  }
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const msgpack::object_kv& kv = o.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR &&
        std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == "op" &&
        kv.val.type == msgpack::type::STR)
      out.op.assign(kv.val.via.str.ptr, kv.val.via.str.size);
  }
  // Each entry alone, as a map of one, into a PresenceRequest: only that field is read, so
  // the first entry refused is the field with the wrong type (whatever fields the struct
  // has: nothing here lists them).
  for (uint32_t i = 0; i < o.via.map.size && out.field.empty(); ++i) {
    msgpack::object_kv kv = o.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) {
      out.field = "a key that is not a string";
      break;
    }
    msgpack::object one;
    one.type = msgpack::type::MAP;
    one.via.map.size = 1;
    one.via.map.ptr = &kv;
    proto::PresenceRequest scratch;
    try {
      one.convert(scratch);
    } catch (const std::exception&) {
      out.field.assign(kv.key.via.str.ptr, kv.key.via.str.size);
    }
  }
  return out;
}

}  // namespace chat::presenced
