#include "server/worker.h"

#include <vector>

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

Worker* Worker::current() { return t_current; }
void Worker::set_current(Worker* w) { t_current = w; }

}  // namespace agd
