// WebSocketConnection: a client connection that left HTTP for a WebSocket
// (RFC 6455) after `GET /v1/responses` asked to upgrade: the Responses API
// as Codex speaks it with `supports_websockets`. wslay does the framing
// (fragmented messages, ping/pong, close, masking, sizes); this class owns
// the socket, runs each `response.create` message through the same stages
// as an HTTP request (IP filter, key, client limits, dispatch, accounting:
// one RequestContext and one request record per message) and sends the
// answer's SSE events back as text frames. One message is answered at a
// time; one more waits, and reading pauses beyond that. The conversation
// it keeps for previous_response_id is translate::SocketConversation.
// Lives on the worker that accepted the connection, which owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "common/cidr.h"
#include "server/response_sink.h"
#include "translate/responses_socket.h"
#include "translate/sse.h"

struct bufferevent;
struct evbuffer;
struct event;
struct wslay_event_context;
struct wslay_event_on_msg_recv_arg;

namespace agd {

class RequestContext;
class Worker;

class WebSocketConnection final : public ResponseSink {
public:
    // No message for this long: the connection is closed (1001). Codex
    // opens a new one at its next turn.
    static constexpr long kIdleSeconds = 900;
    // A client that takes no byte of an answer for this long is dropped.
    static constexpr long kStalledSeconds = 300;
    // Messages that may wait while one is answered.
    static constexpr size_t kMaxWaiting = 8;
    // Reading waits while more than this is unsent (a stream's own
    // backpressure keeps it lower).
    static constexpr size_t kMaxUnsent = 1 << 20;

    // Accepts the upgrade `handshake` asked for: answers 101 and serves the
    // connection from the worker's next loop turn (libevhtp lets go of it
    // then). `accept` is the Sec-WebSocket-Accept value.
    static void upgrade(RequestContext& handshake, std::string accept);

    ~WebSocketConnection() override;
    WebSocketConnection(const WebSocketConnection&) = delete;
    WebSocketConnection& operator=(const WebSocketConnection&) = delete;

    // The worker is stopping: the message in flight is cancelled, a close
    // frame (1001) is tried, the socket closed.
    void shut_down();

    // --- ResponseSink (the answer of the message in flight)
    void sink_whole(int status, std::string_view body, std::string_view content_type) override;
    void sink_start(int status) override;
    void sink_write(const char* data, size_t len) override;
    void sink_end() override;
    void sink_abort() override;
    size_t sink_pending() const override;
    void sink_watch_drain(size_t low) override;
    void sink_finished() override;

private:
    struct Peer {
        bool is_ip = false;
        IpAddr addr;
        bool counted = false;  // holds one of its address's PeerLimit slots
    };
    // Owns `bev` (RequestContext::Taker's) from here on.
    WebSocketConnection(Worker& worker, bufferevent* bev, HeaderList headers, Peer peer);
    bool start(evbuffer* unread, std::string_view head);

    static void read_cb(bufferevent* bev, void* arg);
    static void write_cb(bufferevent* bev, void* arg);
    static void event_cb(bufferevent* bev, short what, void* arg);
    static void next_cb(int fd, short what, void* arg);
    static void destroy_cb(int fd, short what, void* arg);
    static long recv_cb(wslay_event_context* ws, uint8_t* buf, size_t len, int flags, void* arg);
    static long send_cb(wslay_event_context* ws, const uint8_t* data, size_t len, int flags, void* arg);
    static void message_cb(wslay_event_context* ws, const wslay_event_on_msg_recv_arg* arg, void* user);

    void receive();
    void flush();
    void on_message(std::string text);
    void serve(std::string text);
    void serve_create(translate::SocketRequest r);
    void send_text(std::string_view text);
    void send_error(int status, std::string_view type, std::string_view code, std::string_view message,
                    const HeaderList* headers = nullptr);
    void relay_event(std::string_view data);
    void close_with(uint16_t code, std::string_view reason);
    void fail();  // the transport failed: no more frames
    void destroy_later();
    void set_idle(bool idle);

    Worker& worker_;
    int fd_;
    bufferevent* bev_ = nullptr;
    wslay_event_context* ws_ = nullptr;
    event* next_ev_ = nullptr;     // the message in flight is over: free it, serve the next
    event* destroy_ev_ = nullptr;
    HeaderList headers_;           // the handshake's fields that matter to a request
    Peer peer_;
    translate::SocketConversation conversation_;

    // The message in flight and what it is answered with.
    std::unique_ptr<RequestContext> current_;
    HeaderList message_headers_;   // headers_ and those its client_metadata names
    std::string message_body_;
    int status_ = 0;               // of its streamed answer
    std::string error_body_;       // a streamed answer that is an error: its body
    sse::Framer framer_;
    bool completed_ = false;       // its stream ended with a terminal event
    bool drain_wanted_ = false;

    std::deque<std::string> waiting_;  // messages received meanwhile (at most one)
    bool dead_ = false;                // transport gone or destruction scheduled
};

}  // namespace agd
