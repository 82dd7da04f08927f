// Readiness and lifecycle notifications to the supervisor (chatd or systemd) through
// $NOTIFY_SOCKET, with libsystemd's sd_notify. A no-op when no supervisor listens.
#pragma once

namespace chat::sys {

void notify_ready();      // READY=1: listening and open for work
void notify_stopping();   // STOPPING=1: draining after SIGTERM
void notify_reloading();  // RELOADING=1 (follow with notify_ready())
void notify_watchdog();   // WATCHDOG=1, from the daemon's cron

}  // namespace chat::sys
