// store_bench: stored's storage path against plain RocksDB, on one data set, in one run
// (bench/README.md "stored" has the commands and the figures).
//
// Mode "stored" drives stored's own request path in-process, without the bus: client
// threads (each one request outstanding, as guildd's callers are) pack msgpack
// StoreRequests and hand them to one loop thread; the loop drains everything that queued
// while it was busy, decodes and handles each request with store::RequestHandler (staging
// into the engine's batch), commits once (fsync with --sync batch), and only then answers
// each client, exactly as daemons/stored/group_commit does after a loop turn. Reads are
// msg.page requests decoded, handled and answered (reply packed) on that path.
//
// Mode "rocks" does the same puts and reads with plain RocksDB: the same database options
// and key layout (opened through store::Engine, then used raw), each client thread calling
// DB::Write with its own WriteBatch (RocksDB groups concurrent writers itself), reads with
// a bounded iterator, SeekForPrev and Prev, copying out the values.
//
// Phases per mode: appends with sync (a sample, --sync-messages), then the bulk load
// without sync, a settle (flush, wait for compactions), latest-page latency for random
// ordinary channels, the hot channel and channels of 10 .. 100,000 messages, deep
// `before` pages in the hot channel, and disk bytes per message.
#include <rocksdb/db.h>
#include <rocksdb/statistics.h>
#include <rocksdb/write_batch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <random>
#include <semaphore>
#include <thread>

#include "chat/store/history.hpp"
#include "chat/store/request_handler.hpp"
#include "dataset.hpp"

using namespace chat;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string mode = "both";
  std::string dir = "/tmp/store_bench";
  std::string compression = "lz4_zstd_bottom";
  uint64_t messages = 10000000, channels = 10000, hot = 0, sync_messages = 50000;
  int clients = 16, per_request = 1, reads = 20000, settle_s = 600;
  size_t block_cache_mb = 64;
  bool keep = false;
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

struct Latency {
  std::vector<double> us;
  void add(Clock::time_point t) { us.push_back(seconds_since(t) * 1e6); }
  void add_us(double v) { us.push_back(v); }
  double pct(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))];
  }
};

// The writer side common to both modes: messages [from, to) of the data set, split
// round-robin over the clients, `per_request` messages per request.
struct LoadResult {
  double seconds = 0;
  uint64_t requests = 0, commits = 0;
};

// --- mode stored: the request path with a group-committing loop ---------------------------

class Loop {
 public:
  Loop(store::Engine& engine, bool sync) : engine_(engine), handler_(engine), sync_(sync) {}

  struct Slot {
    std::string body;
    std::binary_semaphore answered{0};
    int status = 0;
  };
  void submit(Slot* s) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      inbox_.push_back(s);
    }
    cv_.notify_one();
  }
  void finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
  }
  // One loop turn per wake-up: drain, handle, commit once, answer.
  void run(LoadResult& r) {
    std::vector<Slot*> turn;
    std::vector<proto::StoreReply> replies;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return done_ || !inbox_.empty(); });
        if (inbox_.empty() && done_) return;
        turn.swap(inbox_);
      }
      replies.resize(turn.size());
      for (size_t i = 0; i < turn.size(); ++i) {
        proto::StoreRequest req;
        std::string error;
        if (!store::decode_request(turn[i]->body, req, error)) {
          replies[i].status = 400;
          continue;
        }
        handler_.handle(req, replies[i]);
      }
      store::Status s = engine_.commit(sync_);
      ++r.commits;
      r.requests += turn.size();
      for (size_t i = 0; i < turn.size(); ++i) {
        if (!s.is_ok()) replies[i].status = 500;
        std::string packed = proto::pack(replies[i]);  // what goes back on the bus
        turn[i]->status = replies[i].status;
        turn[i]->answered.release();
      }
      turn.clear();
    }
  }

 private:
  store::Engine& engine_;
  store::RequestHandler handler_;
  bool sync_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot*> inbox_;
  bool done_ = false;
};

LoadResult load_stored(store::Engine& engine, const bench::Dataset& ds, uint64_t from, uint64_t to,
                       const Args& a, bool sync) {
  LoadResult r;
  Loop loop(engine, sync);
  auto start = Clock::now();
  std::thread loop_thread([&] { loop.run(r); });
  std::vector<std::thread> clients;
  std::atomic<uint64_t> failures{0};
  for (int c = 0; c < a.clients; ++c) {
    clients.emplace_back([&, c] {
      Loop::Slot slot;
      proto::StoreRequest req;
      req.op = "msg.append";
      for (uint64_t k = from + c * a.per_request; k < to; k += a.clients * a.per_request) {
        req.messages.clear();
        for (uint64_t j = k; j < std::min(to, k + a.per_request); ++j)
          req.messages.push_back(ds.message(j));
        slot.body = proto::pack(req);
        loop.submit(&slot);
        slot.answered.acquire();
        if (slot.status != 200) ++failures;
      }
    });
  }
  for (auto& t : clients) t.join();
  loop.finish();
  loop_thread.join();
  r.seconds = seconds_since(start);
  if (failures)
    std::fprintf(stderr, "warning: %lu appends failed\n", (unsigned long)failures.load());
  return r;
}

// Latest page (cursor 0) or a `before` page through the request path.
void page_stored(store::RequestHandler& h, uint64_t channel, uint64_t before) {
  proto::StoreRequest req;
  req.op = "msg.page";
  req.channel_id = channel;
  req.before = before;
  req.limit = 50;
  std::string body = proto::pack(req);
  proto::StoreRequest decoded;
  std::string error;
  store::decode_request(body, decoded, error);
  proto::StoreReply reply;
  h.handle(decoded, reply);
  std::string packed = proto::pack(reply);
  if (reply.status != 200 || reply.messages.empty()) std::fprintf(stderr, "empty page!\n");
}

// --- mode rocks: plain RocksDB ---------------------------------------------------------------

LoadResult load_rocks(store::Engine& engine, const bench::Dataset& ds, uint64_t from, uint64_t to,
                      const Args& a, bool sync) {
  LoadResult r;
  rocksdb::DB* db = engine.db();
  rocksdb::Statistics* st = engine.statistics();
  uint64_t self0 = st ? st->getTickerCount(rocksdb::WRITE_DONE_BY_SELF) : 0;
  auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < a.clients; ++c) {
    clients.emplace_back([&, c] {
      rocksdb::WriteOptions wo;
      wo.sync = sync;
      rocksdb::WriteBatch batch;
      for (uint64_t k = from + c * a.per_request; k < to; k += a.clients * a.per_request) {
        batch.Clear();
        for (uint64_t j = k; j < std::min(to, k + a.per_request); ++j) {
          proto::Message m = ds.message(j);
          batch.Put(engine.messages_cf(),
                    store::message_key(m.channel_id, m.id, engine.bucket_ms()), proto::pack(m));
        }
        if (!db->Write(wo, &batch).ok()) std::fprintf(stderr, "write failed\n");
      }
    });
  }
  for (auto& t : clients) t.join();
  r.seconds = seconds_since(start);
  r.requests = (to - from + a.per_request - 1) / a.per_request;
  r.commits = st ? st->getTickerCount(rocksdb::WRITE_DONE_BY_SELF) - self0 : 0;  // write groups
  return r;
}

void page_rocks(store::Engine& engine, uint64_t channel, uint64_t before) {
  std::string lo = store::channel_begin(channel), hi = store::channel_end(channel);
  rocksdb::Slice lower(lo), upper(hi);
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  ro.iterate_lower_bound = &lower;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(engine.db()->NewIterator(ro, engine.messages_cf()));
  std::vector<std::string> values;
  if (before) {
    it->SeekForPrev(store::message_key(channel, before, engine.bucket_ms()));
    if (it->Valid()) it->Prev();  // `before` itself exists in the data set
  } else {
    it->SeekForPrev(store::channel_last(channel));
  }
  for (; it->Valid() && values.size() < 50; it->Prev()) values.push_back(it->value().ToString());
  if (values.empty()) std::fprintf(stderr, "empty page!\n");
}

// --- common -----------------------------------------------------------------------------------

uint64_t dir_bytes(const std::string& path) {
  uint64_t total = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(path))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

double settle(store::Engine& engine, int max_s) {
  auto start = Clock::now();
  rocksdb::FlushOptions fo;
  for (auto* cf : {engine.messages_cf(), engine.directory_cf(), engine.meta_cf()})
    engine.db()->Flush(fo, cf);
  while (seconds_since(start) < max_s) {
    uint64_t pending = 0, running = 0, flushes = 0;
    engine.db()->GetIntProperty(engine.messages_cf(), "rocksdb.estimate-pending-compaction-bytes",
                                &pending);
    engine.db()->GetIntProperty(engine.messages_cf(), "rocksdb.num-running-compactions", &running);
    engine.db()->GetIntProperty(engine.messages_cf(), "rocksdb.num-running-flushes", &flushes);
    if (pending == 0 && running == 0 && flushes == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return seconds_since(start);
}

store::Compression parse_compression(const std::string& s) {
  if (s == "lz4") return store::Compression::lz4;
  if (s == "zstd") return store::Compression::zstd;
  if (s == "none") return store::Compression::none;
  return store::Compression::lz4_zstd_bottom;
}

void run_mode(const std::string& mode, const bench::Dataset& ds, const Args& a) {
  const bool stored = mode == "stored";
  std::string path = a.dir + "/" + mode;
  std::filesystem::remove_all(path);
  store::EngineOptions eo;
  eo.path = path;
  eo.block_cache_mb = a.block_cache_mb;
  eo.compression = parse_compression(a.compression);
  std::unique_ptr<store::Engine> engine;
  if (store::Status s = store::Engine::open(eo, engine); !s.is_ok()) {
    std::fprintf(stderr, "open %s: %s\n", path.c_str(), s.message().c_str());
    std::exit(1);
  }
  const uint64_t n = ds.size();
  const uint64_t sync_n = std::min(a.sync_messages, n);
  auto load = [&](uint64_t from, uint64_t to, bool sync) {
    return stored ? load_stored(*engine, ds, from, to, a, sync)
                  : load_rocks(*engine, ds, from, to, a, sync);
  };
  std::printf("== %s (compression %s, %d clients, %d message(s) per request)\n", mode.c_str(),
              a.compression.c_str(), a.clients, a.per_request);
  LoadResult rs = load(0, sync_n, true);
  std::printf("append sync=batch: %8.0f msg/s  (%lu messages in %.2f s; %.1f requests per %s)\n",
              sync_n / rs.seconds, (unsigned long)sync_n, rs.seconds,
              double(rs.requests) / std::max<uint64_t>(rs.commits, 1),
              stored ? "group commit" : "RocksDB write group");
  LoadResult rn = load(sync_n, n, false);
  std::printf("append sync=none:  %8.0f msg/s  (%lu messages in %.2f s; %.1f requests per %s)\n",
              (n - sync_n) / rn.seconds, (unsigned long)(n - sync_n), rn.seconds,
              double(rn.requests) / std::max<uint64_t>(rn.commits, 1),
              stored ? "group commit" : "RocksDB write group");
  double settle_s = settle(*engine, a.settle_s);
  std::printf("settle (flush + compactions): %.1f s\n", settle_s);

  store::RequestHandler handler(*engine);
  auto page = [&](uint64_t channel, uint64_t before) {
    if (stored)
      page_stored(handler, channel, before);
    else
      page_rocks(*engine, channel, before);
  };
  std::mt19937_64 rng(7);
  auto measure = [&](const char* what, int count, auto&& pick) {
    Latency lat, cpu;
    for (int i = 0; i < count; ++i) {
      auto [channel, before] = pick();
      auto t = Clock::now();
      double c0 = thread_cpu_us();
      page(channel, before);
      cpu.add_us(thread_cpu_us() - c0);
      lat.add(t);
    }
    std::printf("%-36s p50 %7.1f us  p99 %7.1f us  (cpu p50 %6.1f us  p99 %7.1f us)\n", what,
                lat.pct(0.5), lat.pct(0.99), cpu.pct(0.5), cpu.pct(0.99));
  };
  measure("latest page, random channel", a.reads, [&] {
    return std::pair<uint64_t, uint64_t>{ds.ordinary_channel(rng() % ds.ordinary_channels()), 0};
  });
  measure("latest page, hot channel", a.reads, [&] {
    return std::pair<uint64_t, uint64_t>{ds.hot_channel(), 0};
  });
  const auto& hot = ds.hot_ids();
  measure("deep before page, hot channel", a.reads, [&] {
    // Among the oldest 5% of the hot channel (at least 50 older messages remain).
    uint64_t span = std::max<uint64_t>(hot.size() / 20, 1);
    return std::pair<uint64_t, uint64_t>{
        ds.hot_channel(), hot[std::min<uint64_t>(hot.size() - 1, 50 + rng() % span)]};
  });
  for (auto& [channel, size] : ds.ladder()) {
    char what[64];
    std::snprintf(what, sizeof what, "latest page, %lu-message channel", (unsigned long)size);
    measure(what, a.reads / 4, [&, c = channel] { return std::pair<uint64_t, uint64_t>{c, 0}; });
  }
  {
    char what[64];
    std::snprintf(what, sizeof what, "latest page, %lu-message channel", (unsigned long)hot.size());
    measure(what, a.reads / 4, [&] { return std::pair<uint64_t, uint64_t>{ds.hot_channel(), 0}; });
  }
  for (auto* cf : {engine->messages_cf(), engine->directory_cf(), engine->meta_cf()})
    engine->db()->Flush(rocksdb::FlushOptions(), cf);
  uint64_t bytes = dir_bytes(path), sst = 0;
  engine->db()->GetIntProperty(engine->messages_cf(), "rocksdb.live-sst-files-size", &sst);
  std::printf("disk: %lu bytes in the directory, %.1f bytes per message (SST of messages: %.1f)\n",
              (unsigned long)bytes, double(bytes) / n, double(sst) / n);
  std::fflush(stdout);
  engine->close();
  if (!a.keep) std::filesystem::remove_all(path);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"stored's request path against plain RocksDB (bench/README.md)"};
  app.add_option("--mode", a.mode, "stored | rocks | both")
      ->check(CLI::IsMember({"stored", "rocks", "both"}));
  app.add_option("--dir", a.dir, "where the databases go (removed after unless --keep)");
  app.add_option("--messages", a.messages, "messages in all");
  app.add_option("--channels", a.channels, "ordinary channels");
  app.add_option("--hot", a.hot, "messages of the hot channel (default messages/10)");
  app.add_option("--sync-messages", a.sync_messages, "appends measured with sync=batch");
  app.add_option("--clients", a.clients, "concurrent senders, one request outstanding each");
  app.add_option("--per-request", a.per_request, "messages per append request");
  app.add_option("--reads", a.reads, "page reads per measurement");
  app.add_option("--settle", a.settle_s, "seconds to wait for compactions at most");
  app.add_option("--block-cache-mb", a.block_cache_mb, "block cache size");
  app.add_option("--compression", a.compression, "lz4_zstd_bottom | lz4 | zstd | none");
  app.add_flag("--keep", a.keep, "keep the databases");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 64;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when piped to a file
  bench::DatasetOptions d;
  d.messages = a.messages;
  d.channels = a.channels;
  d.hot = a.hot;
  auto t = Clock::now();
  bench::Dataset ds(d);
  std::printf(
      "data set: %lu messages, %lu ordinary channels, hot channel %zu messages "
      "(built in %.1f s)\n",
      (unsigned long)ds.size(), (unsigned long)ds.ordinary_channels(), ds.hot_ids().size(),
      seconds_since(t));
  for (const char* mode : {"stored", "rocks"})
    if (a.mode == "both" || a.mode == mode) run_mode(mode, ds, a);
  return 0;
}
