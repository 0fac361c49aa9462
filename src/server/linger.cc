#include "server/linger.h"

#include <errno.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

namespace agd {
namespace {

int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

Linger::~Linger() {
    for (Entry* e : entries_) {
        event_free(e->ev);
        close(e->fd);
        delete e;
    }
}

void Linger::start(int fd) {
    if (fd < 0) return;
    shutdown(fd, SHUT_WR);
    if (entries_.size() >= kMaxSockets) {
        close(fd);
        return;
    }
    auto* e = new Entry{this, fd, nullptr, now_ns() + int64_t{kMaxSeconds} * 1'000'000'000};
    e->ev = event_new(base_, fd, EV_READ | EV_PERSIST, &Linger::on_event, e);
    timeval idle{kIdleSeconds, 0};
    if (!e->ev || event_add(e->ev, &idle) != 0) {
        if (e->ev) event_free(e->ev);
        close(fd);
        delete e;
        return;
    }
    entries_.insert(e);
}

void Linger::on_event(int fd, short what, void* arg) {
    auto* e = static_cast<Entry*>(arg);
    if (what & EV_TIMEOUT) return e->owner->finish(e);
    // Read and drop whatever arrived; done at end of stream, on an error, or
    // when the whole linger time is spent.
    char buf[16384];
    for (int i = 0; i < 4; ++i) {  // at most 64 KiB a turn: a flood cannot hold the loop
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (static_cast<size_t>(n) < sizeof buf) break;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
        return e->owner->finish(e);  // 0: the client closed too; or an error
    }
    if (now_ns() >= e->deadline_ns) e->owner->finish(e);
}

void Linger::finish(Entry* e) {
    entries_.erase(e);
    event_free(e->ev);
    close(e->fd);
    delete e;
}

}  // namespace agd
