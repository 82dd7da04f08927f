// See worker.hpp.
#include "worker.hpp"

#include <pthread.h>

namespace chat::stored {

Worker::Worker(event_base* base, std::string name, size_t max_queued)
    : name_(std::move(name)), max_queued_(max_queued) {
  done_ev_ = event_new(base, -1, 0, &Worker::on_done, this);
  thread_ = std::thread([this] { main(); });
}

Worker::~Worker() {
  stop();
  if (done_ev_) event_free(done_ev_);
}

bool Worker::post(std::function<void()> job, std::function<void()> done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_.load() || queue_.size() >= max_queued_) return false;
  queue_.push_back(Job{std::move(job), std::move(done)});
  ++pending_;
  cv_.notify_one();
  return true;
}

void Worker::main() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_.load() || !queue_.empty(); });
      if (stopping_.load()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job.run();
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_.push_back(std::move(job.done));
    }
    event_active(done_ev_, EV_TIMEOUT, 0);  // thread-safe: evthread_use_pthreads is on
  }
}

void Worker::on_done(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  std::vector<std::function<void()>> finished;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    finished.swap(self->finished_);
  }
  for (auto& done : finished) {
    --self->pending_;
    if (done && !self->stopping_.load()) done();
  }
}

void Worker::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    pending_ -= queue_.size();
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace chat::stored
