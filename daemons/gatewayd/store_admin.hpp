// The storage admin routes of the REST API (PROTOCOL.md "Admin routes"), one per loop:
//
//   GET  /api/v10/admin/store/stats[?channel_id=C]   stored's figures, whole store or one channel
//   POST /api/v10/admin/store/compact {channel_id?}  compaction; bytes before and after
//   POST /api/v10/admin/store/backup  {name}         checkpoint under <data_dir>/backups/<name>
//
// (also under /api/v9/ and /api/, as every REST route). This class owns the path, the
// admin check (the token goes to guildd as an `auth` request; only a user with `admin`
// passes), the body and query checks, and the forwarding of one AdminRequest to
// chat.admin.stored (lib/chat/proto/admin_ops.hpp) with a deadline long enough for a
// compaction or a backup of a large store. stored's JSON `text` is the body of a 200; its
// status becomes the HTTP status with a Discord-style {"code", "message"} body; no answer
// from stored is a 503 that says so.
#pragma once

#include <cstdint>
#include <string>

#include "chat/http/server.hpp"
#include "chat/proto/admin_ops.hpp"

namespace chat::gateway {

class Worker;

// How long a store admin request may take before the caller gets a 503: compaction and
// backups of a large store take minutes.
inline constexpr int kStoreAdminTimeoutMs = 10 * 60 * 1000;

class StoreAdmin {
 public:
  explicit StoreAdmin(Worker& worker) : worker_(worker) {}
  StoreAdmin(const StoreAdmin&) = delete;
  StoreAdmin& operator=(const StoreAdmin&) = delete;

  // True when the path is one of ours; the answer is then sent (now or later).
  bool handle(http::Request& request, http::Responder& responder);

 private:
  // Checks that `token` is an admin's, then forwards `req` to stored.
  void authorize_and_forward(const std::string& token, proto::AdminRequest req,
                             http::Responder responder);
  void forward(proto::AdminRequest req, http::Responder responder);

  Worker& worker_;
};

}  // namespace chat::gateway
