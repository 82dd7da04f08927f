#include "chat/sys/notify.hpp"

#include <systemd/sd-daemon.h>

namespace chat::sys {

void notify_ready() {
  sd_notify(0, "READY=1");
}
void notify_stopping() {
  sd_notify(0, "STOPPING=1");
}
void notify_reloading() {
  sd_notify(0, "RELOADING=1");
}
void notify_watchdog() {
  sd_notify(0, "WATCHDOG=1");
}

}  // namespace chat::sys
