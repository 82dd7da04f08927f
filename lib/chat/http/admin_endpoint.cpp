// See admin_endpoint.hpp. A Listener feeding an http::Server whose handler is
// admin_response(); anything else is 404.
#include "chat/http/admin_endpoint.hpp"

#include "chat/http/server.hpp"
#include "chat/net/listener.hpp"
#include "chat/obs/metrics.hpp"

namespace chat::http {

std::optional<Response> admin_response(const Request& request, obs::Registry& registry,
                                       const NotReadyFn& not_ready_reason) {
  const std::string& path = request.path;
  if (path != "/healthz" && path != "/readyz" && path != "/metrics") return std::nullopt;
  if (request.method != "GET" && request.method != "HEAD") {
    Response r = Response::error(405, "method not allowed");
    r.headers.add("Allow", "GET, HEAD");
    return r;
  }
  if (path == "/healthz") return Response::json(200, R"({"status":"ok"})");
  if (path == "/readyz") {
    std::string reason = not_ready_reason ? not_ready_reason() : std::string();
    if (reason.empty()) return Response::json(200, R"({"status":"ready"})");
    return Response::json(503, R"({"status":"not_ready","reason":")" + json_escape(reason) + "\"}");
  }
  return Response::text(200, registry.render(), "text/plain; version=0.0.4");
}

struct AdminEndpoint::Impl {
  std::unique_ptr<Server> server;
  std::unique_ptr<net::Listener> listener;
};

AdminEndpoint::~AdminEndpoint() = default;

uint16_t AdminEndpoint::port() const {
  return impl_->listener->port();
}

AdminStart start_admin_http(event_base* base, const std::string& listen_hostport,
                            obs::Registry& registry, NotReadyFn not_ready_reason) {
  AdminStart out;
  auto impl = std::make_unique<AdminEndpoint::Impl>();
  impl->server = std::make_unique<Server>(
      base, [&registry, fn = std::move(not_ready_reason)](Request& req, Responder responder) {
        auto r = admin_response(req, registry, fn);
        responder.send(r ? std::move(*r) : Response::error(404, "not found"));
      });
  Server* server = impl->server.get();
  impl->listener = net::Listener::open(
      base, listen_hostport,
      [server](evutil_socket_t fd, const sockaddr*, int) { server->adopt(fd); }, {}, out.error);
  if (!impl->listener) return out;
  out.endpoint.reset(new AdminEndpoint());
  out.endpoint->impl_ = std::move(impl);
  return out;
}

}  // namespace chat::http
