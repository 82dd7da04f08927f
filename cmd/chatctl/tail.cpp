// `chatctl tail CHANNEL... [-n N] [-f] [--since ID] [--cursor-file FILE]`: the last N
// messages of each channel (or those after an id), oldest first, and with -f the new ones
// as they arrive, with no gap and no repeat across reconnects:
//
//   1. the gateway is opened FIRST, and MESSAGE_CREATEs for our channels are buffered
//      from READY on;
//   2. once the session has its guilds (a GUILD_CREATE for each, or a short deadline),
//      the history is read over REST: the last N, or everything after the last printed
//      id, paging forward until caught up;
//   3. then the buffer and the live events are printed, each only if its id is above the
//      last id printed for its channel (ids increase within a channel).
//
// A lost connection goes back to 1 after the feed's backoff; step 2 then fetches what was
// missed. --cursor-file holds the last printed id between runs (written atomically, by
// rename, after each message when following and at exit), so cron runs are incremental.
// SIGINT, SIGTERM and a closed stdout end the command with status 0.
#include <event2/event.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "chat/sys/daemon.hpp"
#include "client.hpp"
#include "gateway.hpp"
#include "output.hpp"
#include "resolve.hpp"

namespace chat::ctl {

namespace {

constexpr int kPage = 100;           // the REST limit per page
constexpr long kGuildWaitMs = 3000;  // how long to wait for GUILD_CREATEs after READY
constexpr long kCloseWaitMs = 500;   // for the close handshake when stopping

std::string str(const json& o, const char* key) {
  if (o.is_object() && o.contains(key) && o[key].is_string()) return o[key].get<std::string>();
  return {};
}

uint64_t id_of(const json& m) {
  return snowflake_value(str(m, "id"));
}

bool transient(const Status& s) {
  return s.code() == exit_code::unavailable || s.code() == exit_code::temporary;
}

// Everything after `after` in one channel, oldest first, paging forward until a page
// comes back short.
Status fetch_after(Api& api, const std::string& channel, uint64_t after, const std::string& what,
                   std::vector<json>& out) {
  uint64_t cursor = after;
  for (;;) {
    json page;
    std::string path = "/channels/" + channel + "/messages?limit=" + std::to_string(kPage) +
                       "&after=" + std::to_string(cursor);
    if (Status s = api.call("GET", path, nullptr, &page, what); !s.ok()) return s;
    if (!page.is_array()) return Status::error(exit_code::software, what, "history is not a list");
    std::vector<json> fresh;
    for (auto& m : page)
      if (id_of(m) > cursor) fresh.push_back(m);
    if (fresh.empty()) return {};
    std::sort(fresh.begin(), fresh.end(),
              [](const json& a, const json& b) { return id_of(a) < id_of(b); });
    cursor = id_of(fresh.back());
    for (auto& m : fresh) out.push_back(std::move(m));
    if (static_cast<int>(page.size()) < kPage) return {};
  }
}

// The last `n` messages of a channel, oldest first, paging backwards; `newest` is the
// newest id seen (0 for an empty channel), which is where following starts even when
// n is 0.
Status fetch_last(Api& api, const std::string& channel, int n, const std::string& what,
                  std::vector<json>& out, uint64_t& newest) {
  newest = 0;
  const int want = std::max(n, 1);
  std::vector<json> got;
  uint64_t before = 0;
  while (static_cast<int>(got.size()) < want) {
    int limit = std::min(kPage, want - static_cast<int>(got.size()));
    std::string path = "/channels/" + channel + "/messages?limit=" + std::to_string(limit);
    if (before) path += "&before=" + std::to_string(before);
    json page;
    if (Status s = api.call("GET", path, nullptr, &page, what); !s.ok()) return s;
    if (!page.is_array()) return Status::error(exit_code::software, what, "history is not a list");
    uint64_t lowest = 0;
    for (auto& m : page) {
      uint64_t id = id_of(m);
      if (id == 0 || (before && id >= before)) continue;
      newest = std::max(newest, id);
      lowest = lowest == 0 ? id : std::min(lowest, id);
      got.push_back(m);
    }
    if (lowest == 0 || static_cast<int>(page.size()) < limit) break;
    before = lowest;
  }
  std::sort(got.begin(), got.end(),
            [](const json& a, const json& b) { return id_of(a) < id_of(b); });
  if (static_cast<int>(got.size()) > n) got.erase(got.begin(), got.end() - n);
  for (auto& m : got) out.push_back(std::move(m));
  return {};
}

// The follower: catch-up over REST, the gateway's live events, dedupe by id.
class Tail : public GatewayFeed::Listener {
 public:
  struct Channel {
    std::string spec;
    ChannelRef ref;
    uint64_t last = 0;  // the last id printed (or skipped as already seen) in this channel
  };

  Tail(Context& ctx, Output& out, std::vector<Channel> channels, int lines,
       std::optional<uint64_t> start_after, std::string cursor_file, bool follow)
      : ctx_(ctx),
        out_(out),
        channels_(std::move(channels)),
        lines_(lines),
        start_after_(start_after),
        cursor_file_(std::move(cursor_file)),
        follow_(follow) {
    for (size_t i = 0; i < channels_.size(); ++i) index_[channels_[i].ref.id] = i;
    if (start_after_)
      for (auto& c : channels_) c.last = *start_after_;
    written_cursor_ = start_after_.value_or(0);
  }

  // Without -f: one catch-up, then the cursor.
  Status run_once() {
    Status s = catch_up();
    save_cursor();
    return s;
  }

  // With -f: the event loop until a signal, a closed stdout or a fatal error.
  Status run_follow() {
    base_ = event_base_new();
    if (!base_) return Status::error(exit_code::software, "tail", "cannot create an event loop");
    {
      sys::Signals signals(
          base_, [this] { finish({}); }, [this] { finish({}); });
      guild_timer_ = evtimer_new(base_, &Tail::on_guild_timeout, this);
      feed_ =
          std::make_unique<GatewayFeed>(base_, ctx_.api().gateway_url(), ctx_.api().token(), *this);
      // A pipe's reader that goes away is noticed even while no message comes: epoll
      // reports an error on the write end (only for a FIFO: a terminal would be readable).
      struct stat st {};
      if (fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
        reader_gone_ =
            event_new(base_, STDOUT_FILENO, EV_READ | EV_PERSIST, &Tail::on_stdout_closed, this);
        event_add(reader_gone_, nullptr);
      }
      feed_->start();
      event_base_dispatch(base_);
      feed_.reset();
      if (reader_gone_) event_free(reader_gone_);
      event_free(guild_timer_);
    }
    event_base_free(base_);
    save_cursor();
    return result_;
  }

  // GatewayFeed::Listener
  void on_ready(const json& d) override {
    phase_ = Phase::waiting;
    buffer_.clear();
    awaiting_.clear();
    std::set<std::string> in_ready;
    bool listed = d.is_object() && d.contains("guilds") && d["guilds"].is_array();
    if (listed)
      for (auto& g : d["guilds"]) in_ready.insert(str(g, "id"));
    for (auto& c : channels_)
      if (!c.ref.guild_id.empty() && (!listed || in_ready.count(c.ref.guild_id)))
        awaiting_.insert(c.ref.guild_id);
    if (awaiting_.empty()) {
      sync();
    } else {
      timeval tv{kGuildWaitMs / 1000, (kGuildWaitMs % 1000) * 1000};
      evtimer_add(guild_timer_, &tv);
    }
  }

  void on_dispatch(const std::string& type, const json& d) override {
    if (type == "GUILD_CREATE") {
      if (awaiting_.erase(str(d, "id")) && awaiting_.empty() && phase_ == Phase::waiting) sync();
      return;
    }
    if (type != "MESSAGE_CREATE") return;
    auto it = index_.find(str(d, "channel_id"));
    if (it == index_.end()) return;
    if (phase_ != Phase::live) {
      buffer_.emplace_back(it->second, d);
      return;
    }
    emit(it->second, d);
  }

  void on_lost(const std::string& why) override {
    phase_ = Phase::waiting;
    buffer_.clear();
    awaiting_.clear();
    evtimer_del(guild_timer_);
    if (isatty(STDERR_FILENO))
      std::fprintf(stderr, "chatctl: tail: %s; reconnecting\n", why.c_str());
  }

  void on_fatal(int code, const std::string& why) override {
    finish(Status::error(code, "tail", why));
  }

 private:
  enum class Phase { waiting, live };

  static void on_stdout_closed(int, short, void* arg) {
    auto* self = static_cast<Tail*>(arg);
    event_del(self->reader_gone_);  // level-triggered: it would fire until we are gone
    self->finish({});
  }

  static void on_guild_timeout(int, short, void* arg) {
    auto* self = static_cast<Tail*>(arg);
    if (self->phase_ == Phase::waiting) {
      self->awaiting_.clear();
      self->sync();
    }
  }

  // Catch up over REST, then print what the gateway buffered meanwhile.
  void sync() {
    evtimer_del(guild_timer_);
    Status s = catch_up();
    if (!s.ok()) {
      if (transient(s)) {
        feed_->reconnect_later(s.message());
      } else {
        finish(s);
      }
      return;
    }
    std::stable_sort(buffer_.begin(), buffer_.end(),
                     [](auto& a, auto& b) { return id_of(a.second) < id_of(b.second); });
    auto pending = std::move(buffer_);
    buffer_.clear();
    for (auto& [index, m] : pending)
      if (!emit(index, m)) return;
    phase_ = Phase::live;
  }

  // Reads what each channel has after its last printed id (the first time: the last N,
  // or after --since/--cursor-file), merges the channels by id and prints.
  Status catch_up() {
    std::vector<std::pair<size_t, json>> merged;
    std::vector<uint64_t> newest(channels_.size(), 0);
    for (size_t i = 0; i < channels_.size(); ++i) {
      Channel& c = channels_[i];
      std::vector<json> got;
      const std::string what = "tail " + c.spec;
      Status s = primed_ || start_after_
                     ? fetch_after(ctx_.api(), c.ref.id, c.last, what, got)
                     : fetch_last(ctx_.api(), c.ref.id, lines_, what, got, newest[i]);
      if (!s.ok()) return s;
      for (auto& m : got) merged.emplace_back(i, std::move(m));
    }
    std::stable_sort(merged.begin(), merged.end(),
                     [](auto& a, auto& b) { return id_of(a.second) < id_of(b.second); });
    for (auto& [index, m] : merged)
      if (!emit(index, m)) return {};
    // -n 0 (or fewer messages printed than exist): follow from the newest one seen.
    for (size_t i = 0; i < channels_.size(); ++i)
      channels_[i].last = std::max(channels_[i].last, newest[i]);
    primed_ = true;
    return {};
  }

  // Prints one message unless it was printed before; false once output is impossible.
  bool emit(size_t index, const json& m) {
    if (done_) return false;
    Channel& c = channels_[index];
    uint64_t id = id_of(m);
    if (id == 0 || id <= c.last) return true;
    out_.message(m, c.ref.name);
    c.last = id;
    if (!out_.ok()) {
      finish({});
      return false;
    }
    if (follow_) save_cursor();
    return true;
  }

  // The largest id printed, written to the cursor file by rename (atomic for readers).
  void save_cursor() {
    if (cursor_file_.empty()) return;
    uint64_t last = 0;
    for (auto& c : channels_) last = std::max(last, c.last);
    if (last == 0 || last == written_cursor_) return;
    std::string tmp = cursor_file_ + ".tmp." + std::to_string(getpid());
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << last << "\n";
      if (!f.flush()) {
        std::fprintf(stderr, "chatctl: tail: cannot write %s\n", tmp.c_str());
        return;
      }
    }
    if (std::rename(tmp.c_str(), cursor_file_.c_str()) != 0) {
      std::fprintf(stderr, "chatctl: tail: cannot replace %s\n", cursor_file_.c_str());
      std::remove(tmp.c_str());
      return;
    }
    written_cursor_ = last;
  }

  // Ends the follower: closes the session properly (bounded by kCloseWaitMs) and leaves
  // the loop.
  void finish(Status s) {
    if (done_) return;
    done_ = true;
    result_ = std::move(s);
    if (!base_) return;
    timeval tv{0, kCloseWaitMs * 1000};
    event_base_loopexit(base_, &tv);
    if (feed_) feed_->stop();
  }

  void on_stopped() override {
    if (base_) event_base_loopbreak(base_);
  }

  Context& ctx_;
  Output& out_;
  std::vector<Channel> channels_;
  std::map<std::string, size_t> index_;  // channel id -> channels_ index
  int lines_;
  std::optional<uint64_t> start_after_;
  std::string cursor_file_;
  bool follow_;
  bool primed_ = false;  // the first catch-up (last N) is done
  uint64_t written_cursor_ = 0;

  event_base* base_ = nullptr;
  event* guild_timer_ = nullptr;
  event* reader_gone_ = nullptr;  // stdout is a pipe: its reader closing ends us
  std::unique_ptr<GatewayFeed> feed_;
  Phase phase_ = Phase::waiting;
  std::set<std::string> awaiting_;               // guild ids still without GUILD_CREATE
  std::vector<std::pair<size_t, json>> buffer_;  // events held while catching up
  bool done_ = false;
  Status result_;
};

class TailCommand : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = root.add_subcommand("tail", "print the last messages, and with -f new ones");
    sub->add_option("CHANNEL", channels_, "channel ids or GUILD/#name")->required();
    sub->add_option("-n,--lines", lines_, "how many of the last messages (default 10)")
        ->check(CLI::NonNegativeNumber);
    sub->add_flag("-f,--follow", follow_, "keep printing new messages as they arrive");
    sub->add_option("--since", since_, "print the messages after this message id");
    sub->add_option("--cursor-file", cursor_file_,
                    "start after the id in FILE and write the last printed id there");
    return sub;
  }

  Status run(Context& ctx) override {
    std::optional<uint64_t> start;
    if (!since_.empty()) {
      if (!is_snowflake(since_))
        return Status::error(exit_code::usage, "tail --since " + since_, "not a message id");
      start = snowflake_value(since_);
    } else if (!cursor_file_.empty()) {
      std::ifstream in(cursor_file_);
      std::string text;
      if (in >> text) {
        if (!is_snowflake(text))
          return Status::error(exit_code::data, "cursor file " + cursor_file_,
                               "does not hold a message id");
        start = snowflake_value(text);
      }
    }
    Output& out = ctx.output(/*ndjson_when_piped=*/true);
    if (follow_) out.set_flush_each(true);
    std::vector<Tail::Channel> channels;
    std::set<std::string> seen;
    for (auto& spec : channels_) {
      Tail::Channel c;
      c.spec = spec;
      bool details = follow_ || !out.ndjson();
      if (Status s = resolve_channel(ctx, spec, details, c.ref); !s.ok()) return s;
      if (seen.insert(c.ref.id).second) channels.push_back(std::move(c));
    }
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    Tail tail(ctx, out, std::move(channels), lines_, start, cursor_file_, follow_);
    return follow_ ? tail.run_follow() : tail.run_once();
  }

 private:
  std::vector<std::string> channels_;
  int lines_ = 10;
  bool follow_ = false;
  std::string since_;
  std::string cursor_file_;
};

}  // namespace

void add_tail_commands(CommandList& out) {
  out.push_back(std::make_unique<TailCommand>());
}

}  // namespace chat::ctl
