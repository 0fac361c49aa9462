#include "daemon/watchdog.h"

#include <event2/event.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/log.h"
#include "common/mailbox.h"
#include "daemon/notify.h"

namespace agd::daemon {

namespace {

#ifndef NDEBUG
// Tests only (builds with assertions): AGD_TEST_STALL_WORKER=INDEX:MS makes
// worker INDEX sleep MS milliseconds in its first watchdog ping, a stuck
// loop the tests can cause. Release builds have no such hook.
void test_stall(unsigned index) {
    static std::atomic<bool> done{false};
    const char* spec = std::getenv("AGD_TEST_STALL_WORKER");
    if (!spec || done.load()) return;
    char* end = nullptr;
    unsigned long which = std::strtoul(spec, &end, 10);
    if (!end || *end != ':' || which != index || done.exchange(true)) return;
    unsigned long ms = std::strtoul(end + 1, nullptr, 10);
    ::usleep(static_cast<useconds_t>(ms * 1000));
}
#endif

}  // namespace

std::chrono::microseconds Watchdog::interval() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds(0);
    return std::chrono::microseconds(usec);
}

Watchdog::Watchdog(event_base* base, std::vector<Mailbox*> workers, std::chrono::microseconds interval)
    : base_(base),
      workers_(std::move(workers)),
      interval_(interval),
      answered_(std::make_shared<std::vector<std::atomic<uint64_t>>>(workers_.size())) {}

Watchdog::~Watchdog() {
    if (timer_) event_free(timer_);
}

bool Watchdog::start() {
    timer_ = event_new(base_, -1, EV_PERSIST, &Watchdog::on_tick, this);
    if (!timer_) return false;
    auto quarter = interval_ / 4;
    timeval every{static_cast<time_t>(quarter.count() / 1'000'000),
                  static_cast<suseconds_t>(quarter.count() % 1'000'000)};
    if (every.tv_sec == 0 && every.tv_usec == 0) every.tv_usec = 1000;
    if (event_add(timer_, &every) != 0) return false;
    log::info("watchdog: WATCHDOG=1 every {} ms while all {} worker(s) answer", quarter.count() / 1000,
              workers_.size());
    tick();
    return true;
}

void Watchdog::on_tick(int, short, void* arg) { static_cast<Watchdog*>(arg)->tick(); }

void Watchdog::tick() {
    std::string late;
    for (size_t i = 0; i < workers_.size(); ++i)
        if ((*answered_)[i].load(std::memory_order_acquire) < seq_) late += (late.empty() ? "" : ", ") + std::to_string(i);
    if (late.empty()) {
        if (stalled_) {
            stalled_ = false;
            log::notice("watchdog: every worker answers again");
            notify_status("every worker answers again");
        }
        notify_watchdog();
    } else if (!stalled_) {
        stalled_ = true;
        log::warning("watchdog: worker(s) {} did not answer within {} ms: not telling systemd the daemon is alive",
                     late, interval_.count() / 4000);
        notify_status("worker(s) " + late + " not answering: watchdog pings held");
    }
    ++seq_;
    for (size_t i = 0; i < workers_.size(); ++i) {
        if (!workers_[i]) continue;
        auto answered = answered_;
        uint64_t seq = seq_;
        workers_[i]->post([answered, i, seq] {
#ifndef NDEBUG
            test_stall(static_cast<unsigned>(i));
#endif
            (*answered)[i].store(seq, std::memory_order_release);
        });
    }
}

}  // namespace agd::daemon
