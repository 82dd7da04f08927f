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
// Phases: both databases are opened first and the sync=batch sample (--sync-messages) runs
// in --sync-rounds rounds that alternate rocks, stored, rocks, ... so that both modes see
// the same shared disk (its fsync latency drifts 2-3x within minutes). Then, per mode: the
// bulk load without sync, a settle (flush, wait for compactions), latest-page latency for
// random ordinary channels, the hot channel and channels of 10 .. 1,000,000 messages, deep
// `before` pages in the hot channel (each --read-rounds rounds of --reads reads, p50/p99
// per round and the median of the rounds), and disk bytes per message. Besides msg/s, each
// load phase prints the process CPU time per message and, for stored, how its loop thread
// spent its time (waiting, decode+handle, commit, answering; wall and CPU per request),
// for rocks the client threads' CPU in building the batch and in DB::Write.
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
  int clients = 16, per_request = 1, reads = 20000, read_rounds = 3, sync_rounds = 5;
  int settle_s = 600;
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
  double cpu_s = 0;  // the whole process's CPU time (clients, loop, RocksDB threads)
  // Mode stored: how the loop thread spent the phase's wall time.
  double wait_s = 0, handle_s = 0, commit_s = 0, answer_s = 0;
  // ... and its CPU time (not inflated by preemption on a busy machine).
  double handle_cpu_us = 0, commit_cpu_us = 0, answer_cpu_us = 0;
};

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// --- mode stored: the request path with a group-committing loop ---------------------------

// A client's wait for its answer: blocks in the kernel at once, as a caller waiting on its
// bus socket does. (std::binary_semaphore spins and calls sched_yield first, which on a
// two-core machine took CPU from the loop: ~8% of all samples in sched_yield.)
class Answer {
 public:
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_ = true;
    }
    cv_.notify_one();
  }
  void acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return ready_; });
    ready_ = false;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false;
};

class Loop {
 public:
  Loop(store::Engine& engine, bool sync) : engine_(engine), handler_(engine), sync_(sync) {}

  struct Slot {
    std::string body;
    Answer answered;
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
      auto t0 = Clock::now();
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return done_ || !inbox_.empty(); });
        if (inbox_.empty() && done_) return;
        turn.swap(inbox_);
      }
      auto t1 = Clock::now();
      double c1 = thread_cpu_us();
      r.wait_s += std::chrono::duration<double>(t1 - t0).count();
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
      auto t2 = Clock::now();
      double c2 = thread_cpu_us();
      r.handle_s += std::chrono::duration<double>(t2 - t1).count();
      r.handle_cpu_us += c2 - c1;
      store::Status s = engine_.commit(sync_);
      auto t3 = Clock::now();
      double c3 = thread_cpu_us();
      r.commit_s += std::chrono::duration<double>(t3 - t2).count();
      r.commit_cpu_us += c3 - c2;
      ++r.commits;
      r.requests += turn.size();
      for (size_t i = 0; i < turn.size(); ++i) {
        if (!s.is_ok()) replies[i].status = 500;
        std::string packed = proto::pack(replies[i]);  // what goes back on the bus
        turn[i]->status = replies[i].status;
        turn[i]->answered.release();
      }
      turn.clear();
      r.answer_s += seconds_since(t3);
      r.answer_cpu_us += thread_cpu_us() - c3;
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
  std::mutex mu;
  for (int c = 0; c < a.clients; ++c) {
    clients.emplace_back([&, c] {
      rocksdb::WriteOptions wo;
      wo.sync = sync;
      rocksdb::WriteBatch batch;
      double build_us = 0, write_us = 0;
      for (uint64_t k = from + c * a.per_request; k < to; k += a.clients * a.per_request) {
        double c0 = thread_cpu_us();
        batch.Clear();
        for (uint64_t j = k; j < std::min(to, k + a.per_request); ++j) {
          proto::Message m = ds.message(j);
          batch.Put(engine.messages_cf(),
                    store::message_key(m.channel_id, m.id, engine.bucket_ms()), proto::pack(m));
        }
        double c1 = thread_cpu_us();
        if (!db->Write(wo, &batch).ok()) std::fprintf(stderr, "write failed\n");
        build_us += c1 - c0;
        write_us += thread_cpu_us() - c1;
      }
      std::lock_guard<std::mutex> lock(mu);
      r.handle_cpu_us += build_us;
      r.commit_cpu_us += write_us;
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

struct Run {
  std::string mode;
  bool stored = false;
  std::string path;
  std::unique_ptr<store::Engine> engine;
};

void open_run(Run& run, const std::string& mode, const Args& a) {
  run.mode = mode;
  run.stored = mode == "stored";
  run.path = a.dir + "/" + mode;
  std::filesystem::remove_all(run.path);
  store::EngineOptions eo;
  eo.path = run.path;
  eo.block_cache_mb = a.block_cache_mb;
  eo.compression = parse_compression(a.compression);
  if (store::Status s = store::Engine::open(eo, run.engine); !s.is_ok()) {
    std::fprintf(stderr, "open %s: %s\n", run.path.c_str(), s.message().c_str());
    std::exit(1);
  }
}

LoadResult load(Run& run, const bench::Dataset& ds, uint64_t from, uint64_t to, const Args& a,
                bool sync) {
  double cpu0 = process_cpu_s();
  LoadResult r = run.stored ? load_stored(*run.engine, ds, from, to, a, sync)
                            : load_rocks(*run.engine, ds, from, to, a, sync);
  r.cpu_s = process_cpu_s() - cpu0;
  return r;
}

void add(LoadResult& sum, const LoadResult& r) {
  sum.seconds += r.seconds;
  sum.requests += r.requests;
  sum.commits += r.commits;
  sum.cpu_s += r.cpu_s;
  sum.wait_s += r.wait_s;
  sum.handle_s += r.handle_s;
  sum.commit_s += r.commit_s;
  sum.answer_s += r.answer_s;
  sum.handle_cpu_us += r.handle_cpu_us;
  sum.commit_cpu_us += r.commit_cpu_us;
  sum.answer_cpu_us += r.answer_cpu_us;
}

void report(const Run& run, const char* what, const LoadResult& r, uint64_t count) {
  const bool stored = run.stored;
  std::printf(
      "append %s %8.0f msg/s  (%lu messages in %.2f s; %.2f requests per %s; "
      "process CPU %.1f us/msg)\n",
      what, count / r.seconds, (unsigned long)count, r.seconds,
      double(r.requests) / std::max<uint64_t>(r.commits, 1),
      stored ? "group commit" : "RocksDB write group", r.cpu_s * 1e6 / count);
  const double req = std::max<uint64_t>(r.requests, 1);
  if (stored && r.commits) {
    std::printf(
        "  loop thread wall: %.0f%% waiting for requests, %.0f%% decode+handle, %.0f%% commit "
        "(%.1f us/commit), %.0f%% answering\n",
        100 * r.wait_s / r.seconds, 100 * r.handle_s / r.seconds, 100 * r.commit_s / r.seconds,
        r.commit_s * 1e6 / r.commits, 100 * r.answer_s / r.seconds);
    std::printf(
        "  loop thread CPU per request: decode+handle %.1f us, commit %.1f us, answer %.1f us "
        "(total %.1f us)\n",
        r.handle_cpu_us / req, r.commit_cpu_us / req, r.answer_cpu_us / req,
        (r.handle_cpu_us + r.commit_cpu_us + r.answer_cpu_us) / req);
  } else if (!stored) {
    std::printf(
        "  client CPU per request: build the batch (Dataset + pack + key) %.1f us, "
        "DB::Write %.1f us\n",
        r.handle_cpu_us / req, r.commit_cpu_us / req);
  }
}

// The sync=batch sample, in rounds that alternate between the modes, so that both see the
// same disk: fsync latency on a shared virtual disk drifts by 2-3x within minutes, more
// than any difference between the modes.
void sync_rounds(std::vector<Run*>& runs, const bench::Dataset& ds, const Args& a,
                 uint64_t sync_n) {
  const int rounds = std::max<int>(1, std::min<int>(a.sync_rounds, sync_n));
  std::vector<std::vector<double>> rates(runs.size());
  std::vector<LoadResult> sums(runs.size());
  for (int round = 0; round < rounds; ++round) {
    uint64_t from = sync_n * round / rounds, to = sync_n * (round + 1) / rounds;
    std::printf("sync=batch round %d:", round + 1);
    for (size_t i = 0; i < runs.size(); ++i) {
      LoadResult r = load(*runs[i], ds, from, to, a, true);
      rates[i].push_back((to - from) / r.seconds);
      add(sums[i], r);
      std::printf("  %s %6.0f msg/s (%.2f per commit)", runs[i]->mode.c_str(), rates[i].back(),
                  double(r.requests) / std::max<uint64_t>(r.commits, 1));
    }
    std::printf("\n");
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  for (size_t i = 0; i < runs.size(); ++i) {
    std::printf("== %s\n", runs[i]->mode.c_str());
    report(*runs[i], "sync=batch:", sums[i], sync_n);
    std::printf("  median of %d rounds: %.0f msg/s\n", rounds, median(rates[i]));
  }
  if (runs.size() == 2 && runs[0]->mode == "rocks") {
    std::vector<double> ratios;
    for (int round = 0; round < rounds; ++round)
      ratios.push_back(rates[0][round] / rates[1][round]);
    std::printf(
        "append sync=batch, rocks / stored: %.2f (medians of the rounds), %.2f (median of the "
        "per-round ratios)\n",
        median(rates[0]) / median(rates[1]), median(ratios));
  }
}

// Everything after the sync sample: the bulk load, the settle, the reads, the disk.
void run_rest(Run& run, const bench::Dataset& ds, const Args& a, uint64_t sync_n) {
  const bool stored = run.stored;
  store::Engine* engine = run.engine.get();
  const std::string& path = run.path;
  const std::string& mode = run.mode;
  const uint64_t n = ds.size();
  std::printf("== %s (compression %s, %d clients, %d message(s) per request)\n", mode.c_str(),
              a.compression.c_str(), a.clients, a.per_request);
  LoadResult rn = load(run, ds, sync_n, n, a, false);
  report(run, "sync=none: ", rn, n - sync_n);
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
  // `rounds` rounds of `count` reads each: p50/p99 per round, then the median of the rounds.
  auto measure = [&](const char* what, int count, auto&& pick) {
    const int rounds = std::max(a.read_rounds, 1);
    std::vector<double> p50, p99, cpu50, cpu99;
    for (int round = 0; round < rounds; ++round) {
      Latency lat, cpu;
      for (int i = 0; i < count; ++i) {
        auto [channel, before] = pick();
        auto t = Clock::now();
        double c0 = thread_cpu_us();
        page(channel, before);
        cpu.add_us(thread_cpu_us() - c0);
        lat.add(t);
      }
      p50.push_back(lat.pct(0.5));
      p99.push_back(lat.pct(0.99));
      cpu50.push_back(cpu.pct(0.5));
      cpu99.push_back(cpu.pct(0.99));
      if (rounds > 1)
        std::printf("  round %d: p50 %7.1f us  p99 %7.1f us  (cpu p50 %6.1f us  p99 %7.1f us)\n",
                    round + 1, p50.back(), p99.back(), cpu50.back(), cpu99.back());
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    std::printf("%-36s p50 %7.1f us  p99 %7.1f us  (cpu p50 %6.1f us  p99 %7.1f us)%s\n", what,
                median(p50), median(p99), median(cpu50), median(cpu99),
                rounds > 1 ? "  median of rounds" : "");
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
  run.engine.reset();
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
  app.add_option("--sync-rounds", a.sync_rounds,
                 "rounds of the sync=batch sample, alternating between the modes");
  app.add_option("--clients", a.clients, "concurrent senders, one request outstanding each");
  app.add_option("--per-request", a.per_request, "messages per append request");
  app.add_option("--reads", a.reads, "page reads per measurement round");
  app.add_option("--read-rounds", a.read_rounds, "rounds of reads (the median is reported)");
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
  std::vector<std::unique_ptr<Run>> runs;
  std::vector<Run*> order;
  for (const char* mode : {"stored", "rocks"})
    if (a.mode == "both" || a.mode == mode) {
      runs.push_back(std::make_unique<Run>());
      open_run(*runs.back(), mode, a);
      order.push_back(runs.back().get());
    }
  const uint64_t sync_n = std::min(a.sync_messages, ds.size());
  // Each sync round runs rocks, then stored.
  std::vector<Run*> sync_order(order.rbegin(), order.rend());
  if (sync_n) sync_rounds(sync_order, ds, a, sync_n);
  for (Run* run : order) run_rest(*run, ds, a, sync_n);
  return 0;
}
