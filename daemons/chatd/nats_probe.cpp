// See nats_probe.hpp.
#include "nats_probe.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

namespace chat::chatd {
namespace {

constexpr int kRetryMs = 50;
constexpr int kAttemptTimeoutS = 1;

}  // namespace

HostPort nats_host_port(const std::string& url) {
  std::string_view rest(url);
  if (auto comma = rest.find(','); comma != std::string_view::npos) rest = rest.substr(0, comma);
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    if (rest.substr(0, scheme) != "nats")
      throw ConfigError("nats.url: \"" + url + "\": only nats:// is supported");
    rest.remove_prefix(scheme + 3);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  std::string hostport(rest);
  if (hostport.find(':') == std::string::npos ||
      (hostport.front() == '[' && hostport.back() == ']'))
    hostport += ":4222";  // NATS's own default port
  HostPort hp = parse_host_port(hostport, "nats.url");
  if (hp.port == 0) throw ConfigError("nats.url: \"" + url + "\" has port 0");
  return hp;
}

NatsProbe::NatsProbe(event_base* base, std::function<void()> on_ready)
    : base_(base), on_ready_(std::move(on_ready)) {
  retry_ = evtimer_new(base, &NatsProbe::retry_cb, this);
}

NatsProbe::~NatsProbe() {
  stop();
  if (retry_) event_free(retry_);
}

void NatsProbe::start(const HostPort& where) {
  stop();
  where_ = where;
  active_ = true;
  schedule_retry();
}

void NatsProbe::stop() {
  active_ = false;
  evtimer_del(retry_);
  close_attempt();
}

void NatsProbe::schedule_retry() {
  timeval tv{0, kRetryMs * 1000};
  evtimer_add(retry_, &tv);
}

void NatsProbe::retry_cb(int, short, void* arg) {
  static_cast<NatsProbe*>(arg)->attempt();
}

void NatsProbe::attempt() {
  if (!active_) return;
  close_attempt();
  // The host is a literal address or a name from /etc/hosts ("localhost") in every
  // setting chatd spawns nats-server for, so this lookup does not wait on the network.
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string host = where_.host == "0.0.0.0" ? "127.0.0.1" : where_.host;
  if (getaddrinfo(host.c_str(), std::to_string(where_.port).c_str(), &hints, &res) != 0 || !res) {
    schedule_retry();
    return;
  }
  bev_ = bufferevent_socket_new(base_, -1, BEV_OPT_CLOSE_ON_FREE);
  bufferevent_setcb(bev_, &NatsProbe::read_cb, nullptr, &NatsProbe::event_cb, this);
  timeval tv{kAttemptTimeoutS, 0};
  bufferevent_set_timeouts(bev_, &tv, &tv);
  bufferevent_enable(bev_, EV_READ);
  int rc = bufferevent_socket_connect(bev_, res->ai_addr, static_cast<int>(res->ai_addrlen));
  freeaddrinfo(res);
  if (rc != 0) {
    close_attempt();
    schedule_retry();
  }
}

void NatsProbe::close_attempt() {
  if (bev_) bufferevent_free(bev_);
  bev_ = nullptr;
}

void NatsProbe::read_cb(bufferevent* bev, void* arg) {
  auto* self = static_cast<NatsProbe*>(arg);
  size_t len = 0;
  char* line = evbuffer_readln(bufferevent_get_input(bev), &len, EVBUFFER_EOL_CRLF);
  if (!line) {
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 64 * 1024) {
      self->close_attempt();  // not a NATS server
      self->schedule_retry();
    }
    return;
  }
  bool info = len >= 5 && std::strncmp(line, "INFO ", 5) == 0;
  std::free(line);
  self->close_attempt();
  if (!info) {
    self->schedule_retry();
    return;
  }
  self->active_ = false;
  self->on_ready_();
}

void NatsProbe::event_cb(bufferevent*, short what, void* arg) {
  auto* self = static_cast<NatsProbe*>(arg);
  if (what & BEV_EVENT_CONNECTED) return;
  self->close_attempt();
  if (self->active_) self->schedule_retry();
}

}  // namespace chat::chatd
