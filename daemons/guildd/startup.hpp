// What guildd does between connecting the bus and serving: load the whole directory from
// stored (dir.scan, one kind of record at a time, page by page), then make sure an
// administrator can get in: on first start create the user "admin" with a fresh token,
// and whenever <data_dir>/admin.token is missing or no longer authenticates the admin,
// issue a new token and write the file (mode 0600). Every stored request is retried with backoff
// while stored is not answering (no responders, timeout): chatd starts stored first, but
// guildd does not depend on that. Runs on the loop; `done` fires once.
//
// With several guildd instances (guild.shard_range), only the one serving shard 0 does
// the admin bootstrap, so two instances starting together never make two admins or
// revoke each other's admin.token; its writes reach the others through DirSync. The
// other instances' hosts use a copy of that admin.token (or any other token).
#pragma once

#include <event2/event.h>

#include <functional>
#include <string>

#include "chat/proto/snowflake.hpp"
#include "dir_sync.hpp"
#include "directory.hpp"
#include "store_client.hpp"

namespace chat::guildd {

// Writes `token` to `path` with mode 0600 (through a temporary file and rename), creating
// the directory if needed. False with `error` on failure.
bool write_token_file(const std::string& path, const std::string& token, std::string& error);

class Startup {
 public:
  // ok=false: a failure retrying cannot fix (stored refused, the file cannot be written).
  using Done = std::function<void(bool ok, const std::string& error)>;

  // `bootstrap_admin`: whether this instance creates the admin and keeps admin.token.
  Startup(event_base* base, StoreClient& store, Directory& dir, DirSync& sync,
          SnowflakeGenerator& ids, std::string data_dir, bool bootstrap_admin, Done done);
  ~Startup();
  Startup(const Startup&) = delete;
  Startup& operator=(const Startup&) = delete;

  void start();

 private:
  void scan_next();
  void ensure_admin();
  void persist_admin();
  void retry(void (Startup::*step)(), const std::string& why);
  void finish(bool ok, const std::string& error);
  static void on_timer(evutil_socket_t, short, void* arg);

  event_base* base_;
  StoreClient& store_;
  Directory& dir_;
  DirSync& sync_;
  SnowflakeGenerator& ids_;
  std::string data_dir_;
  bool bootstrap_admin_;
  Done done_;
  event* timer_ = nullptr;
  void (Startup::*pending_)() = nullptr;
  int backoff_ms_ = 0;
  int attempts_ = 0;
  size_t kind_ = 0;          // index of the record kind being scanned
  std::string start_after_;  // the last key of the kind's previous page ("" = first page)
  size_t loaded_ = 0, skipped_ = 0, pages_ = 0;
  // The admin write being persisted (kept across retries so a retry writes the same).
  proto::User admin_;
  bool admin_is_new_ = false;
  std::string admin_token_;
  bool finished_ = false;
};

}  // namespace chat::guildd
