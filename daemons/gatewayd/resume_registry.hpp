// Which loop holds each resumable session, for a RESUME that lands on another loop (the
// kernel spreads connections over the SO_REUSEPORT listeners, so a client's new connection
// rarely reaches the loop of its old one). Touched on IDENTIFY, RESUME and session end
// only, never per message, so a mutex is fine here.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace chat::gateway {

class ResumeRegistry {
 public:
  void add(uint64_t session_id, int worker) {
    std::lock_guard lock(mu_);
    map_[session_id] = worker;
  }
  // The loop index holding `session_id`, or -1.
  int find(uint64_t session_id) const {
    std::lock_guard lock(mu_);
    auto it = map_.find(session_id);
    return it == map_.end() ? -1 : it->second;
  }
  void remove(uint64_t session_id) {
    std::lock_guard lock(mu_);
    map_.erase(session_id);
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, int> map_;
};

}  // namespace chat::gateway
