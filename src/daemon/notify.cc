#include "daemon/notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <ctime>
#include <string>

#include <fmt/core.h>

namespace agd::daemon {

namespace {

// A STATUS= value is one line: a newline would start another assignment.
std::string status_field(std::string_view status) {
    std::string s = "STATUS=";
    for (char c : status) s += (c == '\n' || c == '\r') ? ' ' : c;
    return s;
}

bool g_quiet = false;  // notify_quiet(): written and read on the main thread only

void send(const std::string& message) {
    if (g_quiet) return;
    // 0 when NOTIFY_SOCKET is unset, <0 on error: neither is worth failing for.
    (void)sd_notify(0, message.c_str());
}

std::uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

void notify_quiet() { g_quiet = true; }

void notify_ready(std::string_view status) { send("READY=1\n" + status_field(status)); }

void notify_reloading(std::string_view status) {
    send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\n{}", monotonic_usec(), status_field(status)));
}

void notify_stopping(std::string_view status) { send("STOPPING=1\n" + status_field(status)); }

void notify_status(std::string_view status) { send(status_field(status)); }

void notify_mainpid(pid_t pid) { send(fmt::format("MAINPID={}", pid)); }

void notify_watchdog() { send("WATCHDOG=1"); }

}  // namespace agd::daemon
