// The result of a storage operation: a code the request layer maps to one reply status
// (ok 200, not_found 404, bad_request 400, already_exists 409, busy 503, everything else 500) and
// to one exit code at startup (incompatible 70, config_mismatch 78, unavailable 69), plus a
// one-line reason.
#pragma once

#include <string>
#include <utility>

namespace chat::store {

class Status {
 public:
  enum class Code {
    ok,
    not_found,        // no such key
    bad_request,      // the caller's input is wrong
    io_error,         // RocksDB failed (disk, corruption)
    unavailable,      // the database cannot be opened (locked, missing permissions)
    incompatible,     // data written by a newer schema version
    config_mismatch,  // config disagrees with what the data was written with
    already_exists,   // the name is taken (a backup)
    busy,             // stopping, or cancelled by a stop
  };

  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }
  static Status not_found(std::string m = "not found") { return {Code::not_found, std::move(m)}; }
  static Status bad_request(std::string m) { return {Code::bad_request, std::move(m)}; }
  static Status io_error(std::string m) { return {Code::io_error, std::move(m)}; }

  bool is_ok() const { return code_ == Code::ok; }
  bool is_not_found() const { return code_ == Code::not_found; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::ok;
  std::string message_;
};

}  // namespace chat::store
