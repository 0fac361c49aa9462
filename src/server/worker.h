// Worker: one event-loop thread. Every request accepted on it, its upstream
// transfer and its timers live on this worker's event_base.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

#include "common/mailbox.h"
#include "server/linger.h"
#include "upstream/client.h"

struct event_base;

namespace agd {

class Runtime;
class WebSocketConnection;

class Worker {
public:
    Worker(unsigned index, event_base* base, Runtime& runtime);
    ~Worker();

    unsigned index() const { return index_; }
    event_base* base() const { return base_; }
    Runtime& runtime() const { return runtime_; }
    upstream::Client& upstream() { return *upstream_; }
    Linger& linger() { return linger_; }
    // Messages from other threads, run on this worker's loop.
    Mailbox& mailbox() { return mailbox_; }
    uint64_t next_request_id() { return (static_cast<uint64_t>(index_) << 48) | ++requests_; }

    // Client connections open on this worker, so that a stopping worker can
    // close them (and finish their requests) before its loop goes away.
    // (Counted in Runtime::counters().connections too.)
    void track(void* conn);
    void untrack(void* conn);
    // A drain: closes the connections waiting for a next request (kept
    // alive, nothing buffered) and, with `heads_too`, those still without a
    // whole request head. Connections with a request go on to its end.
    void close_waiting(bool heads_too);
    std::vector<void*> connections() const { return {connections_.begin(), connections_.end()}; }
    // Connections that left HTTP for a WebSocket (no longer libevhtp's).
    void track_socket(WebSocketConnection* ws) { sockets_.insert(ws); }
    void forget_socket(WebSocketConnection* ws) { sockets_.erase(ws); }
    // The worker stops: each is closed (1001) and freed.
    void close_sockets();

    // The worker running on this thread (nullptr on other threads).
    static Worker* current();
    static void set_current(Worker* w);

private:
    unsigned index_;
    event_base* base_;
    Runtime& runtime_;
    std::unique_ptr<upstream::Client> upstream_;
    Linger linger_;
    Mailbox mailbox_;
    uint64_t requests_ = 0;
    std::unordered_set<void*> connections_;
    std::unordered_set<WebSocketConnection*> sockets_;
};

}  // namespace agd
