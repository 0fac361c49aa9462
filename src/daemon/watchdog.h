// Watchdog: systemd's WatchdogSec= (WATCHDOG_USEC in the environment).
// The main loop says WATCHDOG=1 only while every worker loop answers: each
// tick (a quarter of the interval) it checks that every worker ran the ping
// posted on the tick before, then posts the next. A worker stuck on one
// request (a loop that no longer turns) misses its ping, the daemon stops
// telling systemd it is alive, and systemd restarts it; a stuck main loop
// stops the pings by itself. A late answer is logged, and said in STATUS=,
// once per stall.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

struct event_base;
struct event;

namespace agd {
class Mailbox;
}

namespace agd::daemon {

class Watchdog {
public:
    // The interval systemd asked for (WATCHDOG_USEC for this process), or
    // zero when no watchdog is wanted.
    static std::chrono::microseconds interval();

    Watchdog(event_base* base, std::vector<Mailbox*> workers, std::chrono::microseconds interval);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    bool start();  // the first WATCHDOG=1 at once, then a tick every interval / 4

private:
    static void on_tick(int, short, void* arg);
    void tick();

    event_base* base_;
    std::vector<Mailbox*> workers_;
    std::chrono::microseconds interval_;
    event* timer_ = nullptr;
    uint64_t seq_ = 0;
    // Each worker's last answered ping; shared with the messages in flight.
    std::shared_ptr<std::vector<std::atomic<uint64_t>>> answered_;
    bool stalled_ = false;
};

}  // namespace agd::daemon
