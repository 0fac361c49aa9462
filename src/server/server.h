// Server: the listening sockets and the worker threads. Each worker runs
// its own event_base and libevhtp instance and accepts on every listening
// socket; a connection accepted by a worker lives on it to the end.
// Requires libevent's pthread locking (evthread_use_pthreads) so that the
// main thread can stop the workers' loops.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "server/socket_activation.h"

struct event_base;

namespace agd {

class Runtime;
class Worker;

class Server {
public:
    explicit Server(Runtime& runtime);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and listens on every address (port 0 picks a free port), or
    // takes the socket `inherited` has for it (socket activation, a binary
    // upgrade); the inherited sockets no address names are served too,
    // except those a binary upgrade meant for the control socket or metrics.
    Status bind(const std::vector<config::ListenAddr>& addrs, std::vector<InheritedSocket>& inherited);
    // Starts `workers` threads accepting on the bound sockets; returns once
    // every one runs its loop.
    Status start_workers(unsigned workers);
    // Stops accepting new connections (connections already open go on).
    // Unix sockets it made are unlinked unless `keep_paths` (a successor
    // serves them).
    void stop_accepting(bool keep_paths = false);
    // The listening sockets and their names for a successor (binary upgrade).
    struct Handover {
        int fd;
        std::string name;
    };
    std::vector<Handover> handover() const;
    // A drain: every worker closes its connections that wait for a request
    // (Worker::close_waiting).
    void close_waiting(bool heads_too);
    // Stops the worker threads (after draining).
    void stop_workers();

    // "127.0.0.1:8045", "[::1]:8045", "unix:/run/x.sock" as bound (actual ports).
    const std::vector<std::string>& bound() const { return bound_; }
    unsigned workers() const { return nworkers_; }
    // Worker i (0 <= i < workers()), from start_workers() until
    // stop_workers(); nullptr otherwise. For the main thread to reach a
    // worker's mailbox: everything else on it belongs to its own thread.
    Worker* worker(unsigned i) const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
    std::vector<std::string> bound_;
    unsigned nworkers_ = 0;
};

}  // namespace agd
