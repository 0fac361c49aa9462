// Server: the listeners (bound by us, accepted by libevhtp on the main
// thread's event_base) and the worker threads (libevhtp's thread pool, one
// event_base each). Connections are handed to the least busy worker; from
// then on everything about them happens on that worker.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

struct event_base;
struct evhtp;
struct evconnlistener;

namespace agd {

class Runtime;
class Worker;

class Server {
public:
    Server(event_base* main_base, Runtime& runtime);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Starts `workers` threads and waits until every one runs its loop.
    Status start_workers(unsigned workers);
    // Binds every address (before accepting anything). Port 0 picks a free port.
    Status bind(const std::vector<config::ListenAddr>& addrs);
    // Stops accepting new connections (connections already open go on).
    void stop_accepting();
    // Stops the worker threads (after draining).
    void stop_workers();

    // "127.0.0.1:8045", "[::1]:8045", "unix:/run/x.sock" as bound (actual ports).
    const std::vector<std::string>& bound() const { return bound_; }
    unsigned workers() const { return nworkers_; }

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
    std::vector<std::string> bound_;
    unsigned nworkers_ = 0;
};

}  // namespace agd
