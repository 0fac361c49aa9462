#include "server/worker.h"

#include <evhtp.h>

#include <vector>

#include "server/client_connection.h"
#include "server/runtime.h"
#include "server/websocket_connection.h"

namespace agd {

namespace {
thread_local Worker* t_current = nullptr;
}

Worker::Worker(unsigned index, event_base* base, Runtime& runtime)
    : index_(index), base_(base), runtime_(runtime), upstream_(std::make_unique<upstream::Client>(base)), linger_(base), mailbox_(base) {}

Worker::~Worker() { close_sockets(); }

void Worker::close_sockets() {
    std::vector<WebSocketConnection*> open(sockets_.begin(), sockets_.end());
    for (WebSocketConnection* ws : open) ws->shut_down();  // each forgets itself
    sockets_.clear();
}

void Worker::track(void* conn) {
    if (connections_.insert(conn).second) runtime_.counters().connections.fetch_add(1, std::memory_order_relaxed);
}

void Worker::untrack(void* conn) {
    if (connections_.erase(conn)) runtime_.counters().connections.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::close_waiting(bool heads_too) {
    for (void* c : connections()) {
        auto* conn = static_cast<evhtp_connection_t*>(c);
        ClientConnection* cc = ClientConnection::of(conn);
        if (cc && cc->waiting(heads_too)) evhtp_connection_free(conn);  // its fini hook untracks it
    }
}

Worker* Worker::current() { return t_current; }
void Worker::set_current(Worker* w) { t_current = w; }

}  // namespace agd
