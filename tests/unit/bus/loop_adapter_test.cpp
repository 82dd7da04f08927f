// The libnats event-loop adapter's reconnect path: libnats calls attach from its reconnect
// thread holding the connection's lock, while the loop thread may be in a socket callback
// waiting for that lock. attach must return (the adapter shipped with libnats waited for
// the callback, and both threads stopped for good), and the new socket must be served.
#include <catch2/catch.hpp>
#include <event2/event.h>
#include <event2/thread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "chat/bus/bus.hpp"
#include "chat/bus/loop_adapter.hpp"

using namespace chat::bus;
using namespace std::chrono_literals;

namespace {

// Stands in for libnats: the connection's lock, and what a read event does with it.
std::mutex connection_lock;
std::atomic<int> entered{0};  // read callbacks started
std::atomic<int> served{0};   // read callbacks that got the lock and read
int current_fd = -1;          // the socket libnats reads from (changes on reconnect)

void process_read(natsConnection*) {
  entered.fetch_add(1);
  std::lock_guard<std::mutex> hold(connection_lock);
  char buf[64];
  while (::recv(current_fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  served.fetch_add(1);
}

void process_write(natsConnection*) {}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("a reconnect's attach does not wait for the loop thread's socket callback") {
  global_init();  // libevent's pthread locking, as in every daemon
  event_base* base = event_base_new();
  REQUIRE(base != nullptr);
  int first[2], second[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, first) == 0);
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, second) == 0);
  loop_adapter::Processing processing{process_read, process_write};

  void* user = nullptr;
  current_fd = first[0];
  REQUIRE(loop_adapter::attach_with(&user, base, nullptr, first[0], processing) == NATS_OK);
  std::thread loop([base] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });

  // libnats' reconnect thread: holds the connection's lock while data arrives, so the
  // loop thread's read callback starts and waits for the lock.
  std::unique_lock<std::mutex> reconnecting(connection_lock);
  REQUIRE(::write(first[1], "x", 1) == 1);
  REQUIRE(wait_until([] { return entered.load() == 1; }));
  current_fd = second[0];
  auto attached = std::async(std::launch::async, [&] {
    return loop_adapter::attach_with(&user, base, nullptr, second[0], processing);
  });
  bool returned = attached.wait_for(5s) == std::future_status::ready;
  reconnecting.unlock();  // lets the callback finish either way, so the test can end
  CHECK(returned);
  CHECK(attached.get() == NATS_OK);
  REQUIRE(wait_until([] { return served.load() == 1; }));

  // The new socket is served; the old one is not watched any more.
  REQUIRE(::write(first[1], "y", 1) == 1);
  REQUIRE(::write(second[1], "z", 1) == 1);
  CHECK(wait_until([] { return served.load() == 2; }));
  std::this_thread::sleep_for(50ms);
  CHECK(served.load() == 2);

  event_base_loopbreak(base);
  loop.join();
  loop_adapter::detach(user);
  event_base_free(base);
  for (int fd : {first[0], first[1], second[0], second[1]}) ::close(fd);
}
