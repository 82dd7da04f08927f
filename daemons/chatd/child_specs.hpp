// The daemon set chatd runs, in start order, from one Config: nats-server (when
// [nats] spawn = true), then stored, guildd, presenced, gatewayd, or the ones
// chatd.programs names (a node of a cluster), still in that order. Every child is
// permanent; a failed daemon is restarted alone (one_for_one), a failed nats-server takes
// everything after it down and up again (rest_for_one), since every daemon depends on the
// bus.
#pragma once

#include <string>
#include <vector>

#include "chat/config/config.hpp"
#include "child.hpp"

namespace chat::chatd {

// Our daemons take `--config <config_path>` (when there is a file) and the `--set`
// overrides chatd was given. Throws ConfigError when nats.url is bad and std::runtime_error
// naming the program when one cannot be found.
std::vector<ChildSpec> child_specs(const Config& cfg, const std::string& config_path,
                                   const std::vector<std::string>& overrides);

}  // namespace chat::chatd
