// One event loop (the main one, or a libevhtp worker thread) and the
// connections it serves.
#pragma once

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

// Casts a typed hook to libevhtp's generic hook type.
template <typename F>
evhtp_hook as_hook(F* fn) {
    return reinterpret_cast<evhtp_hook>(reinterpret_cast<void (*)()>(fn));
}

}  // namespace mock
