// sd_notify(3) messages to the service manager. Every function is a no-op
// when NOTIFY_SOCKET is unset (not started by systemd with Type=notify, or
// Type=notify-reload). Call them from the main thread.
#pragma once

#include <sys/types.h>

#include <string_view>

namespace agd::daemon {

// "READY=1\nSTATUS=<status>"
void notify_ready(std::string_view status);
// "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC in µs>\nSTATUS=<status>".
// Follow it with notify_ready() once the reload has finished (or failed).
void notify_reloading(std::string_view status);
// "STOPPING=1\nSTATUS=<status>"
void notify_stopping(std::string_view status);
// "STATUS=<status>"
void notify_status(std::string_view status);
// "MAINPID=<pid>"
void notify_mainpid(pid_t pid);
// "WATCHDOG=1" (daemon/watchdog.h sends it)
void notify_watchdog();
// From now on nothing is sent: this process is no longer the service's main
// process (a binary upgrade handed over), and the manager would refuse it.
void notify_quiet();

}  // namespace agd::daemon
