// A background thread of stored for work that must not stall the loop: statistics that
// scan, compaction, checkpoints and retention sweeps. Jobs run one at a time in the order
// posted; each job's `done` then runs on the loop thread (handed over through one queue
// and one event, as the bus does), so results reach the bus from the loop only.
//
// The jobs only call thread-safe RocksDB functions (store::Engine's top comment); the
// loop keeps staging and committing meanwhile. stop() is part of the daemon's drain:
// no new jobs, queued ones are dropped (their callers time out), the running one is
// asked to stop (stopping() turns true; compaction is cancelled by the caller through
// Engine::cancel_manual_compactions) and waited for.
#pragma once

#include <event2/event.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace chat::stored {

class Worker {
 public:
  Worker(event_base* base, std::string name, size_t max_queued);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Queues `job` for the worker thread and `done` for the loop after it. False when
  // stopping or when max_queued jobs already wait (the caller answers 503).
  bool post(std::function<void()> job, std::function<void()> done);
  // Jobs queued or running.
  size_t pending() const { return pending_.load(); }
  const std::atomic<bool>& stopping() const { return stopping_; }
  void stop();

 private:
  struct Job {
    std::function<void()> run;
    std::function<void()> done;
  };
  void main();
  static void on_done(evutil_socket_t, short, void* arg);

  std::string name_;
  size_t max_queued_;
  event* done_ev_ = nullptr;
  std::mutex mu_;  // guards queue_ and finished_
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::vector<std::function<void()>> finished_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> pending_{0};
  std::thread thread_;
};

}  // namespace chat::stored
