// See child_specs.hpp.
#include "child_specs.hpp"

#include <algorithm>
#include <stdexcept>

#include "nats_probe.hpp"
#include "programs.hpp"

namespace chat::chatd {

std::vector<ChildSpec> child_specs(const Config& cfg, const std::string& config_path,
                                   const std::vector<std::string>& overrides) {
  std::vector<ChildSpec> specs;
  HostPort bus = nats_host_port(cfg.nats.url);
  if (cfg.nats.spawn) {
    std::string program = find_program(cfg.nats.server);
    if (program.empty())
      throw std::runtime_error("nats.server: \"" + cfg.nats.server +
                               "\" not found in PATH or /usr/sbin");
    ChildSpec nats;
    nats.name = "nats-server";
    nats.program = program;
    nats.args = {"-a", bus.host, "-p", std::to_string(bus.port)};
    nats.strategy = Strategy::rest_for_one;
    nats.readiness = Readiness::nats_info;
    specs.push_back(std::move(nats));
  }
  std::vector<std::string> args;
  if (!config_path.empty()) args = {"--config", config_path};
  for (auto& o : overrides) {
    args.push_back("--set");
    args.push_back(o);
  }
  std::string dir = daemon_dir();
  for (const char* name : {"stored", "guildd", "presenced", "gatewayd"}) {
    // chatd.programs: a cluster node runs its share only (empty = all, in this order).
    const auto& only = cfg.chatd.programs;
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    ChildSpec spec;
    spec.name = name;
    spec.program = dir + "/" + name;
    if (!is_executable(spec.program))
      throw std::runtime_error(std::string(name) + ": no executable " + spec.program +
                               " (set CHAT_DAEMON_DIR to where the daemons are)");
    spec.args = args;
    specs.push_back(std::move(spec));
  }
  return specs;
}

}  // namespace chat::chatd
