// The Prometheus metrics of gatewayd, registered once in main and shared by every loop
// (updates are relaxed atomics; the per-delivery ones are summed per loop turn by the
// Worker, so loops do not share a cache line per delivery). closes_total is labelled by
// reason; count_close() maps a close code to its reason's counter.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "chat/obs/metrics.hpp"

namespace chat::gateway {

struct GatewayMetrics {
  // Not a wire code: a connection dropped for queuing more than gateway.max_queue_bytes.
  static constexpr uint16_t kSlowConsumerClose = 4999;

  obs::Gauge* sessions = nullptr;
  obs::Counter* dispatches = nullptr;  // events encoded (once per loop)
  obs::Counter* deliveries = nullptr;  // frames written to sessions
  obs::Counter* rest_requests = nullptr;
  obs::Counter* slow_consumer_closes = nullptr;  // reason="queue_bytes"
  obs::Counter* resumes = nullptr;
  obs::Counter* resume_failures = nullptr;
  obs::Counter* heartbeat_checks_deferred = nullptr;  // 4009 due, but client bytes unread
  obs::Histogram* fanout_seconds = nullptr;
  std::vector<std::pair<uint16_t, obs::Counter*>> closes;  // by close code
  obs::Counter* closes_other = nullptr;

  static const char* reason_of(uint16_t code) {
    switch (code) {
      case 1000:
        return "client_normal";
      case 1001:
        return "going_away";
      case 1006:
        return "dropped";
      case 4000:
        return "unknown_error";
      case 4001:
        return "unknown_opcode";
      case 4002:
        return "decode_error";
      case 4003:
        return "not_authenticated";
      case 4004:
        return "authentication_failed";
      case 4005:
        return "already_authenticated";
      case 4008:
        return "rate_limited";
      case 4009:
        return "session_timed_out";
      case 4010:
        return "invalid_shard";
      case 4012:
        return "invalid_api_version";
      case 4013:
        return "invalid_intents";
      case kSlowConsumerClose:
        return "slow_consumer";
      default:
        return nullptr;
    }
  }

  void init(obs::Registry& r) {
    sessions = &r.gauge("chat_gatewayd_sessions", "gateway sessions (connected or resumable)");
    dispatches = &r.counter("chat_gatewayd_dispatches_total", "events encoded for fan-out");
    deliveries = &r.counter("chat_gatewayd_deliveries_total", "dispatch frames sent to sessions");
    rest_requests = &r.counter("chat_gatewayd_rest_requests_total", "REST requests");
    slow_consumer_closes =
        &r.counter("chat_gatewayd_slow_consumer_closes_total",
                   "connections dropped for queuing too much output", "reason=\"queue_bytes\"");
    resumes = &r.counter("chat_gatewayd_resumes_total", "successful RESUMEs");
    resume_failures = &r.counter("chat_gatewayd_resume_failures_total", "refused RESUMEs");
    heartbeat_checks_deferred =
        &r.counter("chat_gatewayd_heartbeat_checks_deferred_total",
                   "heartbeat timeouts not enforced yet because the client's bytes were still "
                   "unread (the loop was behind)");
    fanout_seconds =
        &r.histogram("chat_gatewayd_fanout_seconds",
                     "per event and loop: from the loop taking the bus event to its last write",
                     {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                      0.1, 0.25, 0.5, 1});
    for (uint16_t code :
         std::initializer_list<uint16_t>{1000, 1001, 1006, 4000, 4001, 4002, 4003, 4004, 4005, 4008,
                                         4009, 4010, 4012, 4013, kSlowConsumerClose})
      closes.emplace_back(code, &r.counter("chat_gatewayd_closes_total", "gateway closes",
                                           std::string("reason=\"") + reason_of(code) + "\""));
    closes_other = &r.counter("chat_gatewayd_closes_total", "gateway closes", "reason=\"other\"");
  }
  void count_close(uint16_t code) {
    for (auto& [c, counter] : closes)
      if (c == code) return counter->inc();
    closes_other->inc();
  }
};

}  // namespace chat::gateway
