// One event loop (the main one, or a libevhtp worker thread) and the
// connections it serves.
#pragma once

#include <cstdint>

#include <event2/event.h>
#include <evhtp.h>

namespace mock {

struct Worker;

// Per-connection state, created after accept and freed with the connection.
struct ConnCtx {
    Worker* worker = nullptr;
    evhtp_connection_t* conn = nullptr;
    ConnCtx* prev = nullptr;
    ConnCtx* next = nullptr;
    uint64_t requests = 0;      // requests received on this connection so far
};

struct Worker {
    explicit Worker(event_base* b);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Frees every connection still open on this loop (at shutdown).
    void close_all();

    event_base* base;
    bool early_close;           // the backend reports EV_CLOSED
    ConnCtx* conns = nullptr;   // live connections
};

// The worker of the calling thread.
Worker* current_worker();
void set_current_worker(Worker* w);

// Sets TCP_NODELAY and the connection hooks (post-accept, on the worker's thread).
void attach_connection(Worker& w, evhtp_connection_t* conn);

// Counts a request received on conn (once per request, when it is read whole).
void count_request(evhtp_connection_t* conn);
// The ordinal of conn's current request: 1 for the first request, 2 for
// the next one on the kept-alive connection... (0 when the connection is
// not one of the mock's, never expected).
uint64_t request_ordinal(evhtp_connection_t* conn);

// Casts a typed hook to libevhtp's generic hook type.
template <typename F>
evhtp_hook as_hook(F* fn) {
    return reinterpret_cast<evhtp_hook>(reinterpret_cast<void (*)()>(fn));
}

}  // namespace mock
