#include "chat/obs/metrics.hpp"

#include <unistd.h>

#include <cstdio>
#include <set>

namespace chat::obs {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

double Histogram::sum() const {
  return sum_micro_.load(std::memory_order_relaxed) / 1e6;
}

Counter& Registry::counter(const std::string& name, const std::string& help,
                           const std::string& labels) {
  std::lock_guard lock(mu_);
  auto e = std::make_unique<Entry>();
  e->name = name, e->help = help, e->labels = labels, e->type = "counter";
  e->counter = std::make_unique<Counter>();
  auto& ref = *e->counter;
  entries_.push_back(std::move(e));
  return ref;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help,
                       const std::string& labels) {
  std::lock_guard lock(mu_);
  auto e = std::make_unique<Entry>();
  e->name = name, e->help = help, e->labels = labels, e->type = "gauge";
  e->gauge = std::make_unique<Gauge>();
  auto& ref = *e->gauge;
  entries_.push_back(std::move(e));
  return ref;
}

void Registry::gauge_fn(const std::string& name, const std::string& help,
                        std::function<double()> fn) {
  std::lock_guard lock(mu_);
  auto e = std::make_unique<Entry>();
  e->name = name, e->help = help, e->type = "gauge";
  e->fn = std::move(fn);
  entries_.push_back(std::move(e));
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  auto e = std::make_unique<Entry>();
  e->name = name, e->help = help, e->type = "histogram";
  e->histogram = std::make_unique<Histogram>(std::move(bounds));
  auto& ref = *e->histogram;
  entries_.push_back(std::move(e));
  return ref;
}

static std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  std::set<std::string> described;
  for (auto& e : entries_) {
    if (described.insert(e->name).second) {
      out += "# HELP " + e->name + " " + e->help + "\n";
      out += "# TYPE " + e->name + " " + e->type + "\n";
    }
    std::string labels = e->labels.empty() ? "" : "{" + e->labels + "}";
    if (e->counter) {
      out += e->name + labels + " " + std::to_string(e->counter->value()) + "\n";
    } else if (e->gauge) {
      out += e->name + labels + " " + std::to_string(e->gauge->value()) + "\n";
    } else if (e->fn) {
      out += e->name + " " + fmt_double(e->fn()) + "\n";
    } else if (e->histogram) {
      auto& h = *e->histogram;
      uint64_t cum = 0;
      for (size_t i = 0; i < h.bounds().size(); ++i) {
        cum += h.bucket(i);
        out += e->name + "_bucket{le=\"" + fmt_double(h.bounds()[i]) + "\"} " +
               std::to_string(cum) + "\n";
      }
      cum += h.bucket(h.bounds().size());
      out += e->name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + "\n";
      out += e->name + "_sum " + fmt_double(h.sum()) + "\n";
      out += e->name + "_count " + std::to_string(h.count()) + "\n";
    }
  }
  return out;
}

uint64_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace chat::obs
