// Prometheus metrics (text exposition format 0.0.4). A daemon owns one Registry; hot paths
// hold plain pointers to Counter / Gauge / Histogram, whose updates are relaxed atomics so
// any loop thread may bump them without a lock. Names follow chat_<daemon>_<thing>_<unit>;
// counters end in _total.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace chat::obs {

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Cumulative histogram with fixed upper bounds (seconds, bytes, ...).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // sum * 1e6, so it stays an integer atomic
};

class Registry {
 public:
  Counter& counter(const std::string& name, const std::string& help,
                   const std::string& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const std::string& labels = {});
  // A gauge computed when scraped (RSS, queue sizes owned by another thread's atomics, ...).
  void gauge_fn(const std::string& name, const std::string& help, std::function<double()> fn);
  Histogram& histogram(const std::string& name, const std::string& help,
                       std::vector<double> bounds);
  std::string render() const;

 private:
  struct Entry {
    std::string name, help, labels, type;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> fn;
  };
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Resident set size of this process in bytes (from /proc/self/statm), 0 if unknown.
uint64_t rss_bytes();

}  // namespace chat::obs
