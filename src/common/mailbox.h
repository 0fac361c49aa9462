// Mailbox: how work crosses threads into an event loop. Any thread posts a
// message (a callable); the loop that owns the mailbox runs it, in order,
// from its own thread. One per worker (Worker::mailbox()) and one for the
// main thread's loop. Woken by an eventfd, written once per batch: a post
// that finds a wake already pending costs no system call. The queue is
// bounded: post() on a full mailbox drops the message and says so, it never
// blocks the poster.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>

#include "common/bounded_queue.h"

struct event_base;
struct event;

namespace agd {

class Mailbox {
public:
    using Message = std::function<void()>;
    static constexpr size_t kDefaultCapacity = 4096;

    explicit Mailbox(event_base* base, size_t capacity = kDefaultCapacity);
    ~Mailbox();  // messages still queued are dropped unrun
    Mailbox(const Mailbox&) = delete;
    Mailbox& operator=(const Mailbox&) = delete;

    // Any thread. False (the message dropped) when the mailbox is full or
    // could not be created.
    bool post(Message m);
    bool ok() const { return ev_ != nullptr; }

private:
    static void on_wake(int fd, short what, void* arg);
    void drain();

    BoundedQueue<Message> queue_;
    int efd_ = -1;
    event* ev_ = nullptr;
    std::atomic<bool> wake_pending_{false};
};

}  // namespace agd
