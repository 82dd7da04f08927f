// The health and metrics endpoint every daemon serves on its own address:
//   /healthz  200 {"status":"ok"} while the loop runs (it answered, so it runs)
//   /readyz   200 {"status":"ready"}, or 503 {"status":"not_ready","reason":...} when
//             not_ready_reason() returns something non-empty
//   /metrics  registry.render(), Content-Type: text/plain; version=0.0.4
// gatewayd serves the same paths on its main address: admin_response() is the routing
// for that, shared with the stand-alone endpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "chat/http/message.hpp"

struct event_base;

namespace chat::obs {
class Registry;
}

namespace chat::http {

using NotReadyFn = std::function<std::string()>;

// The answer for /healthz, /readyz or /metrics, or nullopt for any other path.
std::optional<Response> admin_response(const Request& request, obs::Registry& registry,
                                       const NotReadyFn& not_ready_reason);

struct AdminStart;

class AdminEndpoint {
 public:
  ~AdminEndpoint();
  uint16_t port() const;  // the bound port (after binding port 0)

 private:
  friend AdminStart start_admin_http(event_base*, const std::string&, obs::Registry&, NotReadyFn);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct AdminStart {
  std::unique_ptr<AdminEndpoint> endpoint;  // null on failure
  std::string error;                        // why it could not listen
};

// Listens on `listen_hostport` ("127.0.0.1:8792") on `base`'s thread. The registry and
// the function must outlive the endpoint. Never throws.
AdminStart start_admin_http(event_base* base, const std::string& listen_hostport,
                            obs::Registry& registry, NotReadyFn not_ready_reason);

}  // namespace chat::http
