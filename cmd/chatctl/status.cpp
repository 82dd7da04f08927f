// `chatctl status`: asks chatd, over its control socket <data_dir>/chatd.sock, how each
// supervised daemon is doing ("status\n" in, one JSON object a line out; see
// daemons/chatd/control_socket.hpp) and prints aligned columns or the objects as NDJSON.
// Needs the data directory, not the gateway or a token. No chatd: exit 69.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

#include "client.hpp"
#include "output.hpp"

namespace chat::ctl {

namespace {

constexpr int kTimeoutMs = 5000;

// Sends `request` and reads the whole answer (chatd closes after it).
Status ask_chatd(const std::string& path, const std::string& request, std::string& answer) {
  const std::string what = "status";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Status::error(exit_code::usage, what, "socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error(exit_code::software, what, std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    if (e == ENOENT || e == ECONNREFUSED)
      return Status::error(exit_code::unavailable, what,
                           "chatd is not running (nothing answers on " + path + ")");
    if (e == EACCES)
      return Status::error(exit_code::no_perm, what,
                           "cannot open " + path + ": " + std::strerror(e));
    return Status::error(exit_code::unavailable, what, path + ": " + std::strerror(e));
  }
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    return Status::error(exit_code::unavailable, what, "cannot write to " + path);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return Status::error(exit_code::temporary, what, "chatd did not answer in time");
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::error(exit_code::unavailable, what, std::strerror(errno));
    if (n == 0) return {};
    answer.append(buf, static_cast<size_t>(n));
  }
}

std::string field(const json& o, const char* key) {
  if (!o.is_object() || !o.contains(key)) return "-";
  const json& v = o[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  return v.dump();
}

// 3725 -> "1h02m05s"; people read durations better than seconds.
std::string human_duration(const json& o) {
  if (!o.is_object() || !o.contains("uptime_s") || !o["uptime_s"].is_number()) return "-";
  long long s = o["uptime_s"].get<long long>();
  char buf[48];
  if (s >= 86400)
    std::snprintf(buf, sizeof buf, "%lldd%02lldh%02lldm", s / 86400, s % 86400 / 3600,
                  s % 3600 / 60);
  else if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", s / 3600, s % 3600 / 60, s % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

class StatusCommand : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    return root.add_subcommand("status",
                               "each daemon's state, pid, restarts and uptime (from chatd)");
  }

  Status run(Context& ctx) override {
    if (Status s = ctx.load_config(); !s.ok()) return s;
    std::string answer;
    if (Status s = ask_chatd(ctx.config().data_path() + "/chatd.sock", "status\n", answer); !s.ok())
      return s;
    std::vector<json> children;
    std::istringstream lines(answer);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      json o = json::parse(line, nullptr, false);
      if (!o.is_object())
        return Status::error(exit_code::software, "status", "chatd sent a line that is not JSON");
      if (o.contains("error"))
        return Status::error(exit_code::software, "status", "chatd: " + field(o, "error"));
      children.push_back(std::move(o));
    }
    Output& out = ctx.output();
    if (out.ndjson()) {
      for (auto& c : children) out.object(c);
      return {};
    }
    std::vector<std::vector<std::string>> rows{{"NAME", "PID", "STATE", "RESTARTS", "UPTIME"}};
    for (auto& c : children)
      rows.push_back({field(c, "name"), field(c, "pid"), field(c, "state"), field(c, "restarts"),
                      human_duration(c)});
    out.table(rows);
    return {};
  }
};

}  // namespace

void add_status_commands(CommandList& out) {
  out.push_back(std::make_unique<StatusCommand>());
}

}  // namespace chat::ctl
