// MetricsServer: the Prometheus listener ([metrics] listen), on the main
// thread's event loop. A small HTTP/1.1 server that knows one resource:
// GET or HEAD /metrics (any query) is answered 200 with the text the scrape
// function produces; any other path 404, another method on /metrics 405.
// Requests carry no body (a Content-Length other than 0 or any
// Transfer-Encoding: 400, connection closed). Keep-alive as HTTP/1.1 says
// (HTTP/1.0: only when asked for); pipelined requests are answered in order,
// one at a time (reading pauses while a scrape is being collected).
//
// Bounds: a request head of kMaxHead bytes (431 beyond) that must arrive
// within kHeadTimeoutSeconds of its first byte (or of the accept); an idle
// kept-alive connection lasts kIdleTimeoutSeconds; a client has
// kWriteTimeoutSeconds to take its answer; kMaxConnections at once (a
// newcomer closes the oldest idle one, or gets 503 when none is idle).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "server/socket_activation.h"

struct event_base;
struct event;

namespace agd::metrics {

class MetricsServer {
public:
    static constexpr size_t kMaxConnections = 64;
    static constexpr size_t kMaxHead = 8192;
    static constexpr int kHeadTimeoutSeconds = 10;
    static constexpr int kIdleTimeoutSeconds = 120;
    static constexpr int kWriteTimeoutSeconds = 30;
    static constexpr int kScrapeTimeoutSeconds = 30;  // a scrape function that never answers

    // Called with the body of a 200 answer, on the main loop, once.
    using Respond = std::function<void(const std::string& body)>;
    // Produces a scrape's body: calls respond (now or later, from the loop).
    using Scrape = std::function<void(Respond respond)>;

    // Binds every address (server/listen_socket.h), or takes the socket a
    // binary upgrade handed over for it (`inherited`, may be null); a
    // failure closes what was bound and returns the error (sysexits code).
    static Result<std::unique_ptr<MetricsServer>> listen(event_base* base, const std::vector<config::ListenAddr>& addrs,
                                                         Scrape scrape, std::vector<InheritedSocket>* inherited = nullptr);
    ~MetricsServer();  // closes every connection; unlinks its unix sockets

    // The listening sockets and their names for a successor (binary upgrade).
    std::vector<std::pair<int, std::string>> handover() const;
    // Stops accepting; the unix sockets' paths now belong to the successor.
    void hand_over();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    const std::vector<std::string>& bound() const { return bound_; }
    size_t connection_count() const { return conns_.size(); }

private:
    struct Connection;
    struct Listener {
        MetricsServer* server = nullptr;
        int fd = -1;
        std::string unix_path;
        std::string name;  // handover_name
        event* ev = nullptr;
        event* retry = nullptr;  // re-enables accepting after EMFILE
    };

    MetricsServer(event_base* base, Scrape scrape) : base_(base), scrape_(std::move(scrape)) {}
    static void on_accept(int fd, short what, void* arg);
    static void on_accept_retry(int fd, short what, void* arg);
    void accept_all(Listener& l);
    bool evict_oldest_idle();
    void remove(Connection* c);

    event_base* base_;
    Scrape scrape_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::string> bound_;
    std::unordered_map<Connection*, std::shared_ptr<Connection>> conns_;
    uint64_t accepted_ = 0;
};

}  // namespace agd::metrics
