// fanout_floor: what one message to N loopback TCP connections costs this machine's kernel
// when the server does nothing but write (bench/README.md, "The floor for one message to
// 100,000 members"). It is the lower bound for any gateway here, ours or a peer's.
//
// The parent makes PROCS listening sockets, then forks PROCS writer processes (each
// accepts its share of the N connections) and PROCS reader processes (each connects its
// share from its own source address and reads with epoll). Every round the parent reads
// CLOCK_MONOTONIC and tells every writer to go; a writer puts one BYTES-long message,
// carrying that time, on each of its sockets with one write() each; a reader notes when
// the round's message has arrived on all of its sockets. Printed per round: the time from
// "go" to the last connection receiving it, the writers' CPU (user + system) per write,
// and the readers' CPU per read. The processes share the machine's cores, as gatewayd and
// the load generator do in bench/scale/run.sh.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

uint64_t cpu_ns() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return uint64_t(tv.tv_sec) * 1000000000u + uint64_t(tv.tv_usec) * 1000u;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fanout_floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void write_all(int fd, const void* p, size_t n) {
  auto* b = static_cast<const char*>(p);
  while (n) {
    ssize_t w = ::write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("pipe write");
    b += w;
    n -= size_t(w);
  }
}

bool read_all(int fd, void* p, size_t n) {
  auto* b = static_cast<char*>(p);
  while (n) {
    ssize_t r = ::read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    b += r;
    n -= size_t(r);
  }
  return true;
}

struct Report {          // child -> parent, once per round
  uint64_t last_ns = 0;  // readers: when the round's message was complete on all sockets
  uint64_t cpu_ns = 0;   // CPU used in the round
  uint64_t count = 0;    // writes done / messages read
};

// Writer: accepts `n` connections, then per round writes one message to each.
void writer(int lfd, long n, int ctl_in, int ctl_out, size_t bytes) {
  std::vector<int> fds;
  fds.reserve(size_t(n));
  while (long(fds.size()) < n) {
    int fd = ::accept4(lfd, nullptr, nullptr, 0);
    if (fd < 0) {
      if (errno == EINTR) continue;
      die("accept");
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fds.push_back(fd);
  }
  ::close(lfd);
  Report ready{};
  write_all(ctl_out, &ready, sizeof ready);
  std::string msg(bytes, 'x');
  uint64_t go = 0;
  while (read_all(ctl_in, &go, sizeof go)) {
    std::memcpy(msg.data(), &go, sizeof go);
    uint64_t c0 = cpu_ns();
    uint64_t done = 0;
    for (int fd : fds) {
      ssize_t w = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w == ssize_t(msg.size())) ++done;
    }
    Report r{mono_ns(), cpu_ns() - c0, done};
    write_all(ctl_out, &r, sizeof r);
  }
  std::exit(0);
}

// Reader: connects `n` sockets to `port` from `src`, then per round waits until every
// socket has its message and reports when that happened.
void reader(uint16_t port, const char* src, long n, int ctl_out, size_t bytes) {
  int ep = epoll_create1(0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, src, &from.sin_addr);
  std::vector<uint32_t> have(size_t(n), 0);  // bytes of the current round's message per socket
  std::vector<int> fds;
  for (long i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) < 0) die("bind");
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) die("connect");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = uint64_t(i) << 32 | uint32_t(fd);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    fds.push_back(fd);
  }
  Report ready{};
  write_all(ctl_out, &ready, sizeof ready);
  std::vector<epoll_event> evs(1024);
  std::vector<char> buf(65536);
  long complete = 0;
  uint64_t c0 = cpu_ns();
  for (;;) {
    int k = epoll_wait(ep, evs.data(), int(evs.size()), -1);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int e = 0; e < k; ++e) {
      int fd = int(uint32_t(evs[size_t(e)].data.u64));
      size_t i = size_t(evs[size_t(e)].data.u64 >> 32);
      ssize_t r = ::read(fd, buf.data(), buf.size());
      if (r == 0) std::exit(0);  // the writer is gone: the run is over
      if (r < 0) continue;
      have[i] += uint32_t(r);
      while (have[i] >= bytes) {
        have[i] -= uint32_t(bytes);
        if (++complete == n) {
          Report rep{mono_ns(), cpu_ns() - c0, uint64_t(n)};
          write_all(ctl_out, &rep, sizeof rep);
          complete = 0;
          c0 = cpu_ns();
        }
      }
    }
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  long connections = 100000;
  int procs = 6;
  int rounds = 5;
  size_t bytes = 512;
  int port = 9600;
  double gap_s = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--connections")
      connections = std::atol(v);
    else if (k == "--procs")
      procs = std::atoi(v);
    else if (k == "--rounds")
      rounds = std::atoi(v);
    else if (k == "--bytes")
      bytes = size_t(std::atol(v));
    else if (k == "--port")
      port = std::atoi(v);
    else if (k == "--gap")
      gap_s = std::atof(v);
    else {
      std::fprintf(stderr,
                   "usage: fanout_floor [--connections N] [--procs P] [--rounds R] "
                   "[--bytes B] [--port PORT] [--gap S]\n");
      return 64;
    }
  }
  if (procs < 1 || connections < procs || bytes < 8 || rounds < 1) {
    std::fprintf(stderr, "fanout_floor: bad arguments\n");
    return 64;
  }
  struct Child {
    pid_t pid;
    int ctl_in;   // parent writes "go" (writers only)
    int ctl_out;  // parent reads reports
  };
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::vector<Child> writers, readers;
  std::vector<int> held;  // the parent's pipe ends: a child closes its siblings' ends, so
                          // that closing "go" reaches every writer at the end
  auto close_held = [&held] {
    for (int fd : held) ::close(fd);
  };
  for (int p = 0; p < procs; ++p) {
    long n = connections / procs + (p < connections % procs ? 1 : 0);
    int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port + p));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die("bind listener");
    if (::listen(lfd, 65535) < 0) die("listen");
    int go[2], wrep[2], rrep[2];
    if (pipe(go) < 0 || pipe(wrep) < 0 || pipe(rrep) < 0) die("pipe");
    pid_t w = fork();
    if (w == 0) {
      close_held();
      ::close(go[1]);
      ::close(wrep[0]);
      writer(lfd, n, go[0], wrep[1], bytes);
    }
    ::close(go[0]);
    ::close(wrep[1]);
    writers.push_back({w, go[1], wrep[0]});
    held.push_back(go[1]);
    held.push_back(wrep[0]);
    pid_t r = fork();
    if (r == 0) {
      close_held();
      ::close(lfd);
      ::close(rrep[0]);
      char src[32];
      std::snprintf(src, sizeof src, "127.2.%d.1", p);
      reader(uint16_t(port + p), src, n, rrep[1], bytes);
    }
    ::close(lfd);
    ::close(rrep[1]);
    readers.push_back({r, -1, rrep[0]});
    held.push_back(rrep[0]);
  }
  uint64_t t_conn = mono_ns();
  Report rep{};
  for (auto& c : writers)
    if (!read_all(c.ctl_out, &rep, sizeof rep)) die("writer set-up");
  for (auto& c : readers)
    if (!read_all(c.ctl_out, &rep, sizeof rep)) die("reader set-up");
  std::printf(
      "floor: %ld connections, %d writer + %d reader processes, %zu-byte message, "
      "connected in %.1f s\n",
      connections, procs, procs, bytes, double(mono_ns() - t_conn) / 1e9);
  std::vector<double> lasts, wcpu, rcpu;
  for (int round = 0; round < rounds; ++round) {
    timespec gap{time_t(gap_s), long((gap_s - double(time_t(gap_s))) * 1e9)};
    nanosleep(&gap, nullptr);
    uint64_t go = mono_ns();
    for (auto& c : writers) write_all(c.ctl_in, &go, sizeof go);
    uint64_t last = 0, wc = 0, rc = 0, written = 0, wdone = 0;
    for (auto& c : writers) {
      if (!read_all(c.ctl_out, &rep, sizeof rep)) die("writer report");
      wc += rep.cpu_ns;
      written += rep.count;
      wdone = std::max(wdone, rep.last_ns);
    }
    for (auto& c : readers) {
      if (!read_all(c.ctl_out, &rep, sizeof rep)) die("reader report");
      last = std::max(last, rep.last_ns);
      rc += rep.cpu_ns;
    }
    double last_ms = double(last - go) / 1e6;
    lasts.push_back(last_ms);
    wcpu.push_back(double(wc) / 1e3 / double(connections));
    rcpu.push_back(double(rc) / 1e3 / double(connections));
    std::printf(
        "floor: round %d: %lu written, writers done after %.1f ms, last connection "
        "received after %.1f ms; CPU per write %.2f us, per read %.2f us\n",
        round, (unsigned long)written, double(wdone - go) / 1e6, last_ms, wcpu.back(), rcpu.back());
  }
  std::printf(
      "floor: median over %d rounds: last connection after %.1f ms, writer CPU "
      "%.2f us per write, reader CPU %.2f us per read\n",
      rounds, median(lasts), median(wcpu), median(rcpu));
  for (auto& c : writers) ::close(c.ctl_in);
  for (auto& c : writers) waitpid(c.pid, nullptr, 0);
  for (auto& c : readers) waitpid(c.pid, nullptr, 0);
  return 0;
}
