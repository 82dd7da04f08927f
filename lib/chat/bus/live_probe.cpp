// See live_probe.hpp.
#include "chat/bus/live_probe.hpp"

#include "chat/obs/log.hpp"

namespace chat::bus {

namespace {
constexpr int kAskTimeoutMs = 2000;
constexpr long kRetryUs = 250000;
}  // namespace

struct LiveProbe::State {
  event_base* base;
  Bus& bus;
  std::string subject;
  std::string tag;
  std::string waiting;
  std::function<void()> ready;
  uint64_t sub = 0;
  bool confirmed = false;

  State(event_base* b, Bus& bu) : base(b), bus(bu) {}
};

namespace {

void ask(const std::shared_ptr<LiveProbe::State>& st);

// Timer callbacks get a heap weak_ptr: a probe destroyed while a retry is pending is simply
// not asked again, and a loop freed first frees the timer (the small box leaks at exit).
void on_retry(evutil_socket_t, short, void* arg) {
  std::unique_ptr<std::weak_ptr<LiveProbe::State>> box(
      static_cast<std::weak_ptr<LiveProbe::State>*>(arg));
  if (auto st = box->lock(); st && !st->confirmed) ask(st);
}

void ask(const std::shared_ptr<LiveProbe::State>& st) {
  std::weak_ptr<LiveProbe::State> weak = st;
  st->bus.request(st->subject, "live?", kAskTimeoutMs, [weak](Status s, Message&) {
    auto st = weak.lock();
    if (!st || st->confirmed) return;  // cancelled, destroyed or done
    if (s != Status::ok) {
      log::warn(st->tag, st->waiting, {{"status", to_string(s)}});
      timeval tv{0, kRetryUs};
      event_base_once(st->base, -1, EV_TIMEOUT, on_retry, new std::weak_ptr<LiveProbe::State>(st),
                      &tv);
      return;
    }
    st->bus.unsubscribe(st->sub);
    st->sub = 0;
    st->confirmed = true;
    auto ready = std::move(st->ready);
    st->ready = nullptr;
    if (ready) ready();
  });
}

}  // namespace

// Dropping the state is the whole cancellation: pending answers and retries hold it weakly.
// The bus is not touched (it may be gone already); the probe subscription dies with it.
LiveProbe::~LiveProbe() = default;

bool LiveProbe::start(event_base* base, Bus& bus, std::string subject, std::string tag,
                      std::string waiting, std::function<void()> ready) {
  cancel();
  auto st = std::make_shared<State>(base, bus);
  st->subject = std::move(subject);
  st->tag = std::move(tag);
  st->waiting = std::move(waiting);
  st->sub = bus.subscribe(st->subject, [&bus](Message& m) { bus.respond(m, "ok"); });
  if (!st->sub) return false;
  st->ready = std::move(ready);
  state_ = st;
  ask(st);
  return true;
}

bool LiveProbe::live() const {
  return state_ && state_->confirmed;
}

void LiveProbe::cancel() {
  if (!state_) return;
  if (state_->sub) state_->bus.unsubscribe(state_->sub);
  state_->sub = 0;
  state_.reset();
}

}  // namespace chat::bus
