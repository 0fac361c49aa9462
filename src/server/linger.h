// Linger: the lingering close of client connections (one per worker).
// When we end a connection whose client may still be sending (the body of a
// refused request, the rest of a malformed head, a pipelined request after
// "Connection: close"), closing the socket with unread input makes the kernel
// send a reset, and a reset can destroy our answer before the client has read
// it. So the socket is half-closed (our answer, then FIN) and what still
// arrives is read and dropped until the client closes too, it stays silent
// for kIdleSeconds, or kMaxSeconds have passed. Bounded per worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>

struct event_base;
struct event;

namespace agd {

class Linger {
public:
    explicit Linger(event_base* base) : base_(base) {}
    ~Linger();  // closes every socket still lingering
    Linger(const Linger&) = delete;
    Linger& operator=(const Linger&) = delete;

    // Takes fd (its own descriptor: a dup of the connection's socket, whose
    // answer, if any, is already written) and closes it when done.
    void start(int fd);
    size_t size() const { return entries_.size(); }

    static constexpr int kIdleSeconds = 5;
    static constexpr int kMaxSeconds = 30;
    static constexpr size_t kMaxSockets = 1024;  // beyond: closed at once

private:
    struct Entry {
        Linger* owner;
        int fd;
        event* ev;
        int64_t deadline_ns;
    };
    static void on_event(int fd, short what, void* arg);
    void finish(Entry* e);

    event_base* base_;
    std::unordered_set<Entry*> entries_;
};

}  // namespace agd
