#include "common/mailbox.h"

#include <event2/event.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace agd {

Mailbox::Mailbox(event_base* base, size_t capacity) : queue_(capacity) {
    efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd_ < 0) return;
    ev_ = event_new(base, efd_, EV_READ | EV_PERSIST, &Mailbox::on_wake, this);
    if (!ev_ || event_add(ev_, nullptr) != 0) {
        if (ev_) event_free(ev_);
        ev_ = nullptr;
    }
}

Mailbox::~Mailbox() {
    if (ev_) event_free(ev_);
    if (efd_ >= 0) close(efd_);
}

bool Mailbox::post(Message m) {
    if (!ev_ || !queue_.push(m)) return false;
    if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
        uint64_t one = 1;
        // Fails only when the counter would overflow: a wake is pending anyway.
        ssize_t n = write(efd_, &one, sizeof one);
        (void)n;
    }
    return true;
}

void Mailbox::on_wake(int fd, short, void* arg) {
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
    static_cast<Mailbox*>(arg)->drain();
}

void Mailbox::drain() {
    // Cleared before draining: a message posted from here on wakes us again.
    wake_pending_.store(false, std::memory_order_release);
    // At most one queue's worth per wake, so a poster that keeps posting
    // cannot hold the loop; what is left comes with the next wake.
    size_t budget = queue_.capacity();
    while (budget-- > 0) {
        auto m = queue_.pop();
        if (!m) return;
        if (*m) (*m)();
    }
    if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
        uint64_t one = 1;
        ssize_t w = write(efd_, &one, sizeof one);
        (void)w;
    }
}

}  // namespace agd
