// The supervisor's decisions, with no processes, sockets or clocks in them, so they can be
// tested alone (tests/unit/chatd): whether an exited child is restarted (its restart
// type), which children a failure takes down with it (the strategy), how long to wait
// before the restart (backoff), and when restarts are too many and chatd gives up (the
// restart intensity). The names and meanings are OTP's: supervisor(3) in Erlang/OTP.
// Header-only on purpose: the unit tests include it without linking chatd.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string_view>

namespace chat::chatd {

// When a child that exited is started again.
enum class RestartType {
  permanent,  // always
  transient,  // only when it failed (non-zero exit status or killed by a signal)
  temporary,  // never; it is left stopped
};

// Which children are restarted when one of them fails.
enum class Strategy {
  one_for_one,   // only the child that failed
  rest_for_one,  // it and every child started after it (they depend on it)
};

constexpr std::string_view to_string(RestartType t) {
  switch (t) {
    case RestartType::permanent:
      return "permanent";
    case RestartType::transient:
      return "transient";
    case RestartType::temporary:
      return "temporary";
  }
  return "?";
}

constexpr std::string_view to_string(Strategy s) {
  return s == Strategy::one_for_one ? "one_for_one" : "rest_for_one";
}

// `clean` is true for an exit with status 0, the only exit OTP's transient treats as
// normal. A child chatd stopped on purpose never reaches this question.
constexpr bool should_restart(RestartType type, bool clean) {
  switch (type) {
    case RestartType::permanent:
      return true;
    case RestartType::transient:
      return !clean;
    case RestartType::temporary:
      return false;
  }
  return false;
}

// Children [first, last) that a failure of child `index` (of `count`, in start order)
// takes down: the child itself, plus with rest_for_one everything after it.
struct Affected {
  size_t first = 0;
  size_t last = 0;
};

constexpr Affected affected_by(Strategy s, size_t index, size_t count) {
  if (index >= count) return {count, count};
  return {index, s == Strategy::rest_for_one ? count : index + 1};
}

// OTP's restart intensity: more than `intensity` restarts within `period_ms` means the
// failure is not transient and the supervisor itself gives up. Time is passed in (ms on
// any monotonic clock), so tests can drive it.
class RestartIntensity {
 public:
  RestartIntensity(int intensity, int64_t period_ms)
      : intensity_(intensity), period_ms_(period_ms) {}

  // New limits after a reload; the restarts already seen are kept.
  void set_limits(int intensity, int64_t period_ms) {
    intensity_ = intensity;
    period_ms_ = period_ms;
  }

  // Records one restart at `now_ms`. Returns false when that makes one too many: the
  // caller must stop everything rather than restart.
  bool record(int64_t now_ms) {
    restarts_.push_back(now_ms);
    forget_before(now_ms - period_ms_);
    return static_cast<int64_t>(restarts_.size()) <= intensity_;
  }

  // Restarts still inside the window ending at `now_ms`.
  size_t recent(int64_t now_ms) {
    forget_before(now_ms - period_ms_);
    return restarts_.size();
  }

 private:
  // A restart exactly `period_ms` ago is outside the window (OTP counts within MaxT).
  void forget_before(int64_t cutoff) {
    while (!restarts_.empty() && restarts_.front() <= cutoff) restarts_.pop_front();
  }

  int intensity_;
  int64_t period_ms_;
  std::deque<int64_t> restarts_;
};

// Delay before restarting one child: 100 ms, doubling with each failure in a row up to
// `max_ms`. A child that stayed up for `stable_ms` is considered healthy again and its
// next failure starts over at the initial delay.
class Backoff {
 public:
  static constexpr int64_t kInitialMs = 100;

  explicit Backoff(int64_t max_ms, int64_t stable_ms = 10000)
      : max_ms_(max_ms), stable_ms_(stable_ms) {}

  void set_max(int64_t max_ms) { max_ms_ = max_ms; }

  // The delay for a failure after the child ran for `uptime_ms`; advances the sequence.
  int64_t next(int64_t uptime_ms) {
    if (uptime_ms >= stable_ms_) next_ms_ = kInitialMs;
    int64_t delay = std::min(next_ms_, max_ms_);
    next_ms_ = std::min(next_ms_ * 2, std::max(max_ms_, kInitialMs));
    return delay;
  }

  void reset() { next_ms_ = kInitialMs; }

 private:
  int64_t max_ms_;
  int64_t stable_ms_;
  int64_t next_ms_ = kInitialMs;
};

}  // namespace chat::chatd
