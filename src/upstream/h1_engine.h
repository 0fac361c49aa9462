// H1Engine: HTTP/1.1 over plain TCP or TLS toward the upstreams, on one
// worker's event_base (see client.h for which requests it carries).
//
// A connection is registered with the loop once, for reading, when it is
// opened, and stays registered while it is used and while it waits in the
// pool: a request on a pooled connection costs one writev and one read (more
// for a large answer), and no epoll_ctl. The pool is LIFO per origin, holds
// at most kMaxIdle connections and closes those idle for kIdleMax. A pooled
// connection the upstream closed in the meantime is noticed when it becomes
// readable, or when a request sent on it gets no byte of answer back; such a
// request is sent again once, on a new connection, as HTTP clients do.
//
// The answer is read into one buffer per engine and handed to the listener
// from there; only bytes the listener did not take (it paused) are copied.
//
// https (h1_engine_tls.cc): OpenSSL on the same non-blocking socket, the
// handshake driven by the same two events; the connection then carries
// requests exactly as a plain one, a small request in one record (one
// write), the answer's records taken by one read each wakeup (read-ahead).
// Bytes OpenSSL has read but not yet handed out give no readiness event, so
// the engine drains them before it waits again. One resumable session per
// origin is kept (TLS 1.3 tickets, TLS 1.2 sessions) for the next
// connection's handshake. A connection's pool key holds its TlsContext's
// id: requests that trust other certificates never share it.
#pragma once

#include <sys/time.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "upstream/client.h"
#include "upstream/h1_parser.h"
#include "upstream/resolver.h"

struct event;
typedef struct ssl_session_st SSL_SESSION;

namespace agd::upstream {

class H1Engine;
class TlsContext;
struct H1Conn;

class H1Transfer final : public Transfer {
public:
    void pause() override;
    void resume() override;
    void cancel() override;
    void body_more() override;

private:
    friend class H1Engine;
    H1Engine* engine_ = nullptr;
    Listener* listener_ = nullptr;
    H1Conn* conn_ = nullptr;
    std::string key_;  // the origin's pool key
    const TlsContext* tls_ = nullptr;  // https: the trusted certificates (held by the request's snapshot)
    std::string host_;
    uint16_t port_ = 0;
    std::string head_;  // request line and headers
    const char* body_ = nullptr;
    size_t body_len_ = 0;
    BodySource* source_ = nullptr;  // a streamed body (body_ unused)
    bool starved_ = false;          // sent all the source had: waits for body_more()
    size_t sent_ = 0;  // of head_ + body
    ResponseParser parser_;
    std::string pending_;  // answer bytes read but not taken by the listener
    event* timer_ = nullptr;
    std::chrono::milliseconds idle_timeout_{0};
    std::chrono::milliseconds connect_timeout_{0};
    timeval last_read_{};
    std::vector<Address> addrs_;  // connecting: the candidates
    size_t next_addr_ = 0;
    timeval connect_deadline_{};
    std::string connect_error_;
    bool retried_ = false;   // sent again after a pooled connection failed
    bool starting_ = false;  // inside H1Engine::start: failures wait for the loop
    bool deferred_ = false;  // a failure to report from the timer's activation
    Outcome deferred_outcome_ = Outcome::Other;
    std::string deferred_message_;
    H1Transfer* prev_ = nullptr;  // the engine's list of running transfers
    H1Transfer* next_ = nullptr;
};

class H1Engine {
public:
    static constexpr size_t kMaxIdle = 1024;
    static constexpr std::chrono::seconds kIdleMax{60};
    static constexpr size_t kReadBuffer = 64 * 1024;
    static constexpr size_t kMaxSessions = 256;      // resumable TLS sessions kept, one per origin
    static constexpr size_t kCoalesce = 16 * 1024;   // https: a body up to this joins the head in one record

    explicit H1Engine(event_base* base);
    ~H1Engine();
    H1Engine(const H1Engine&) = delete;
    H1Engine& operator=(const H1Engine&) = delete;

    // A started transfer; nullptr with `declined` set when this engine does
    // not carry the request (https without a TlsContext, a proxy, a host not
    // resolved yet: the caller uses libcurl), nullptr alone when it cannot
    // start.
    Transfer* start(const Request& req, Listener* listener, bool& declined);
    size_t active() const { return active_; }
    size_t idle_connections() const { return idle_count_; }
    size_t tls_sessions() const { return sessions_.size(); }

private:
    friend class H1Transfer;
    static void on_read(int fd, short events, void* arg);
    static void on_write(int fd, short events, void* arg);
    static void on_timer(int fd, short events, void* arg);
    static void on_sweep(int fd, short events, void* arg);

    void connect_next(H1Transfer* t);
    timeval connect_time_left(const H1Transfer* t) const;  // until the connect deadline, never negative
    void arm_idle(H1Transfer* t);                           // the idle timer from now (off when no timeout)
    void connected(H1Transfer* t);
    void attach(H1Transfer* t, H1Conn* c);
    void send(H1Transfer* t);
    // The body's bytes from `at` that can go now (a source's ready ones).
    std::string_view body_at(H1Transfer* t, size_t at);
    // `n` bytes of the body went out.
    void body_sent(H1Transfer* t, size_t n);
    void read_answer(H1Transfer* t);
    enum class Progress { Running, Paused, Finished };
    Progress process(H1Transfer* t, const char* data, size_t len);
    void complete(H1Transfer* t, bool leftover);
    void fail(H1Transfer* t, Outcome outcome, std::string message);
    std::string where(const H1Transfer* t) const;
    void retry_or_fail(H1Transfer* t, std::string message);
    void finish(H1Transfer* t, Outcome outcome, std::string_view message);
    void destroy(H1Transfer* t);
    void park(H1Conn* c);
    void unpark(H1Conn* c);
    void close_conn(H1Conn* c);
    void set_reading(H1Conn* c, bool on);

    // h1_engine_tls.cc
    friend struct H1Conn;
    void start_tls(H1Transfer* t);
    void handshake_step(H1Transfer* t);
    void tls_send(H1Transfer* t);
    void tls_read_answer(H1Transfer* t);
    bool tls_leftover(H1Conn* c);
    void tls_idle_readable(H1Conn* c);
    bool keep_session(const std::string& key, SSL_SESSION* s);

    event_base* base_;
    Resolver resolver_;
    std::unique_ptr<char[]> buf_;
    std::unordered_map<std::string, std::vector<H1Conn*>> idle_;  // per origin key, most recent last
    std::unordered_map<std::string, SSL_SESSION*> sessions_;     // per origin key: the newest resumable one
    size_t idle_count_ = 0;
    H1Transfer* transfers_ = nullptr;  // running, linked through prev_/next_
    event* sweep_ = nullptr;
    size_t active_ = 0;
};

}  // namespace agd::upstream
