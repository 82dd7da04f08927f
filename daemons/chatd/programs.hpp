// Where chatd finds the programs it runs. Our daemons (stored, guildd, gatewayd) live
// next to chatd itself, in the directory of /proc/self/exe, unless $CHAT_DAEMON_DIR names
// another directory (a packaged layout, or stand-ins under test). nats-server is not ours:
// it is looked up in $PATH, then /usr/sbin, where Debian installs it.
#pragma once

#include <string>

namespace chat::chatd {

// The directory holding stored, guildd and gatewayd.
std::string daemon_dir();

// `name` if it contains a '/', else the first executable `name` in $PATH then /usr/sbin;
// "" when there is none.
std::string find_program(const std::string& name);

// True when `path` names an executable regular file.
bool is_executable(const std::string& path);

}  // namespace chat::chatd
