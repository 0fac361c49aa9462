// ClientConnection: what the server keeps about one client connection beside
// libevhtp's evhtp_connection: the deadline of the request head being read
// (server.client_header_timeout) and between reads of its body
// (server.client_body_timeout), the size of the head so far, why a head was
// refused, and whether the close must linger (linger.h). Created when the
// connection is accepted, deleted in libevhtp's connection fini hook; lives
// on its worker like everything else about the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/cidr.h"
#include "pipeline/errors.h"
#include "server/framing.h"

struct evhtp_connection;
struct evhtp_request;
struct bufferevent;
struct event;
struct evbuffer;
struct evbuffer_cb_entry;
struct evbuffer_cb_info;

namespace agd {

class Worker;
class RequestContext;
struct Snapshot;

class ClientConnection {
public:
    ClientConnection(evhtp_connection* conn, Worker& worker);
    ~ClientConnection();
    ClientConnection(const ClientConnection&) = delete;
    ClientConnection& operator=(const ClientConnection&) = delete;

    // server.max_connections_per_ip (counted when constructed): false when
    // the address had its quota open already (the caller refuses the
    // connection, finish() answers 429).
    bool admit();

    // The ClientConnection of a libevhtp connection (the fini hook's argument).
    static ClientConnection* of(evhtp_connection* conn);
    // The RequestContext of a libevhtp request (nullptr before its head is parsed).
    static RequestContext* context_of(evhtp_request* req);

    // Most header fields and bytes of header fields in one request head;
    // past them the head is refused with 431. (One field line is also
    // bounded by libevhtp's parser, at 8 KiB.)
    static constexpr unsigned kMaxHeaderFields = 100;
    static constexpr size_t kMaxHeaderBytes = 64 * 1024;
    // A body must also arrive at this average rate once
    // client_body_timeout has passed since its head (a client trickling a
    // few bytes just inside the gap timeout is cut too): its deadline is
    // the head's end + client_body_timeout + 1 s per kMinBodyRate bytes.
    static constexpr uint64_t kMinBodyRate = 1024;  // bytes per second

    // --- where the connection is (called by server.cc's hooks)
    void head_lines_started();  // the request line is parsed
    // Counts a header field; false: the head is over a limit (refused).
    bool header_field(size_t name_len, size_t value_len);
    void head_done(bool body_follows);
    // A hook refuses the head: the parser stops (the hook returns an error)
    // and finish() answers it.
    void refuse(ErrorKind kind, std::string message);
    void body_read(size_t bytes);
    // Reading the body stops (`held`) or goes on again: a streamed upload
    // waits for its upstream. The body's deadlines stand still meanwhile.
    void hold_body(bool held);
    void body_done();  // also: the parser's next drain ends the message
    void request_done();  // the request was freed: the next one is a new head
    // No request in progress: kept alive with nothing buffered, or (with
    // `heads_too`) a head not yet whole. Such a connection may be closed
    // by a drain.
    bool waiting(bool heads_too) const;

    // Before libevhtp's parser reads what the client sent (from our read
    // callback, and from RequestContext before it resumes a connection
    // with pipelined bytes): drops the empty lines a client may send before
    // a request line (RFC 9112 §2.2; the parser returns after each such
    // byte as if a request had ended, and its read callback then stalls),
    // and scans the head for bare CR and LF (framing.h). False: the head is
    // refused, the caller frees the connection.
    bool check_input();

    // The connection leaves libevhtp (a WebSocket upgrade): the count it
    // holds in PeerLimit goes with it (true: one was held; the new owner
    // releases it).
    bool hand_over_peer() {
        bool held = counted_;
        counted_ = false;
        return held;
    }
    // The bufferevent itself goes to the new owner (a TLS session cannot
    // be duplicated like a socket): nothing of this object stays on it.
    void release_bufferevent();
    // The connection must close with a lingering close (its client may
    // still be sending).
    void linger() { linger_ = true; }

    // libevhtp is about to free the connection (its fini hook): answers a
    // head the parser refused, starts the lingering close when needed.
    // Deletes this.
    void finish();

private:
    enum class Phase { Head, Body, Handling, Idle };
    static void read_cb(bufferevent* bev, void* arg);
    static void input_cb(evbuffer* buf, const evbuffer_cb_info* info, void* arg);
    static void timer_cb(int fd, short what, void* arg);
    void arm(int64_t deadline_ns);
    void count_peer(const Snapshot& snap);
    int64_t body_deadline() const;
    void expired();
    void refuse_head(ErrorKind kind, const std::string& message);
    bool answer_malformed();
    bool reading_content_length() const;
    void log_refusal(int status, const std::string& message);

    evhtp_connection* conn_;
    Worker& worker_;
    void (*htp_read_cb_)(bufferevent*, void*) = nullptr;  // libevhtp's own
    event* timer_ = nullptr;
    int64_t timer_at_ns_ = 0;    // when timer_ fires; 0: not pending
    Phase phase_ = Phase::Head;
    int64_t header_timeout_ns_;
    int64_t body_timeout_ns_;
    int64_t head_deadline_ns_ = 0;
    int64_t last_read_ns_ = 0;
    int64_t body_start_ns_ = 0;
    uint64_t body_bytes_ = 0;
    bool body_held_ = false;
    int64_t held_since_ns_ = 0;
    bool in_header_lines_ = false;
    unsigned header_fields_ = 0;
    size_t header_bytes_ = 0;
    bool refused_ = false;       // a hook refused the head: refusal_ says why
    ErrorKind refusal_kind_ = ErrorKind::BadRequest;
    std::string refusal_;
    bool linger_ = false;
    // The head scan: bytes at the front of the input already scanned (the
    // parser drains from the front: input_cb keeps this in step).
    HeadScanner scanner_;
    evbuffer_cb_entry* input_cb_ = nullptr;
    size_t scanned_ = 0;
    bool scanning_ = true;        // a head is (or is about to be) read
    bool at_message_start_ = true;
    bool restart_pending_ = false;  // the message ended: its last drain restarts the scan
    bool counted_ = false;       // holds one of its address's connections in PeerLimit
    IpAddr peer_;
};

}  // namespace agd
