#include "server/websocket_connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include <strings.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "common/json.h"
#include "common/log.h"
#include "server/request_context.h"
#include "server/runtime.h"
#include "server/snapshot.h"
#include "server/websocket_handshake.h"
#include "server/worker.h"
#include "translate/json_util.h"

namespace agd {

namespace {

// Handshake fields that describe the upgrade itself, not a request.
bool upgrade_field(std::string_view name) {
    static constexpr std::string_view fields[] = {
        "host", "upgrade", "connection", "content-length", "transfer-encoding", "expect",
        "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"};
    for (std::string_view f : fields)
        if (name == f) return true;
    return false;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Codex's beta header for this transport names nothing an upstream serves
// over HTTP.
bool socket_beta(std::string_view name, std::string_view value) {
    return name == "openai-beta" && value.find("responses_websockets") != std::string_view::npos;
}

}  // namespace

void WebSocketConnection::upgrade(RequestContext& handshake, std::string accept) {
    HeaderList headers;
    // The handshake's fields every message is a request with: the key,
    // the client's identity, session and beta fields (at most 8 of each).
    static constexpr const char* kept[] = {"authorization", "x-api-key", "x-goog-api-key", "user-agent",
                                           "openai-beta", "openai-organization", "openai-project",
                                           "session-id", "session_id", "x-session-id", "thread-id",
                                           "x-client-request-id", "x-forwarded-for", "x-real-ip",
                                           "originator", "x-openai-internal-codex-responses-lite",
                                           "version", "x-codex-beta-features"};
    for (const char* name : kept) {
        std::string_view values[8];
        size_t n = handshake.header_values(name, values, 8);
        for (size_t i = 0; i < n; ++i) {
            if (socket_beta(name, values[i])) continue;
            headers.emplace_back(name, std::string(values[i]));
        }
    }
    Peer peer;
    peer.is_ip = handshake.peer_is_ip;
    peer.addr = handshake.peer;
    Worker& worker = handshake.worker;
    std::string head = websocket_101(accept);
    handshake.take_connection(101, [&worker, headers = std::move(headers), peer, head](
                                       bufferevent* bev, evbuffer* unread, bool counted) mutable {
        Peer p = peer;
        p.counted = counted;  // it goes on counting toward its address's max_connections_per_ip
        auto* ws = new WebSocketConnection(worker, bev, std::move(headers), p);
        if (!ws->start(unread, head)) delete ws;
    });
}

WebSocketConnection::WebSocketConnection(Worker& worker, bufferevent* bev, HeaderList headers, Peer peer)
    : worker_(worker),
      fd_(static_cast<int>(bufferevent_getfd(bev))),
      bev_(bev),
      headers_(std::move(headers)),
      peer_(peer),
      conversation_(worker.runtime().snapshot()->config->server.max_body_size) {}

bool WebSocketConnection::start(evbuffer* unread, std::string_view head) {
    wslay_event_callbacks cb{};
    cb.recv_callback = reinterpret_cast<wslay_event_recv_callback>(&WebSocketConnection::recv_cb);
    cb.send_callback = reinterpret_cast<wslay_event_send_callback>(&WebSocketConnection::send_cb);
    cb.on_msg_recv_callback = &WebSocketConnection::message_cb;
    if (wslay_event_context_server_init(&ws_, &cb, this) != 0) return false;
    // A message is a request body: the same bound.
    wslay_event_config_set_max_recv_msg_length(ws_, worker_.runtime().snapshot()->config->server.max_body_size);
    next_ev_ = event_new(worker_.base(), -1, 0, &WebSocketConnection::next_cb, this);
    destroy_ev_ = event_new(worker_.base(), -1, 0, &WebSocketConnection::destroy_cb, this);
    if (!next_ev_ || !destroy_ev_) return false;
    worker_.track_socket(this);
    bufferevent_setcb(bev_, &WebSocketConnection::read_cb, &WebSocketConnection::write_cb,
                      &WebSocketConnection::event_cb, this);
    // Above a message's worth of unread input, reading waits.
    bufferevent_setwatermark(bev_, EV_READ, 0, RequestContext::kMaxUnparsedInput);
    bufferevent_write(bev_, head.data(), head.size());
    evbuffer_add_buffer(bufferevent_get_input(bev_), unread);
    bufferevent_enable(bev_, EV_READ | EV_WRITE);
    set_idle(true);
    log::debug("websocket {}: open", fd_);
    receive();
    return true;
}

WebSocketConnection::~WebSocketConnection() {
    if (current_) {
        current_->on_client_gone();
        current_.reset();
    }
    worker_.forget_socket(this);
    if (ws_) wslay_event_context_free(ws_);
    if (bev_) bufferevent_free(bev_);  // closes fd_
    if (next_ev_) event_free(next_ev_);
    if (destroy_ev_) event_free(destroy_ev_);
    if (peer_.counted) worker_.runtime().peers().release(peer_.addr);
}

void WebSocketConnection::shut_down() {
    if (current_) {
        current_->on_client_gone();
        current_.reset();
    }
    if (!dead_ && ws_ && bev_) {
        wslay_event_queue_close(ws_, 1001, reinterpret_cast<const uint8_t*>("server stopping"), 15);
        wslay_event_send(ws_);
        evbuffer* out = bufferevent_get_output(bev_);
        if (SSL* ssl = bufferevent_openssl_get_ssl(bev_)) {
            // Best effort, as below: what is queued, through the session.
            size_t n = evbuffer_get_length(out);
            if (n > 0 && n < (1u << 20)) {
                ERR_clear_error();
                SSL_write(ssl, evbuffer_pullup(out, -1), static_cast<int>(n));
                ERR_clear_error();
            }
        } else {
            evbuffer_unfreeze(out, 1);
            evbuffer_write(out, fd_);
        }
    }
    delete this;
}

// --- transport

void WebSocketConnection::read_cb(bufferevent*, void* arg) { static_cast<WebSocketConnection*>(arg)->receive(); }

void WebSocketConnection::write_cb(bufferevent*, void* arg) {
    auto* self = static_cast<WebSocketConnection*>(arg);
    if (self->drain_wanted_ && self->current_) {
        self->drain_wanted_ = false;
        bufferevent_setwatermark(self->bev_, EV_WRITE, 0, 0);
        self->current_->on_drained();
    }
    // Reading may have waited for the output to drain.
    if (!self->dead_ && self->waiting_.empty()) self->receive();
    // Everything is sent and the closing handshake is over.
    if (!self->dead_ && self->ws_ && !wslay_event_want_read(self->ws_) && !wslay_event_want_write(self->ws_) &&
        self->sink_pending() == 0)
        self->destroy_later();
}

void WebSocketConnection::event_cb(bufferevent*, short what, void* arg) {
    auto* self = static_cast<WebSocketConnection*>(arg);
    if (what & BEV_EVENT_TIMEOUT) {
        if ((what & BEV_EVENT_READING) && !self->current_) {
            log::debug("websocket {}: idle, closing", self->fd_);
            self->close_with(1001, "idle");
            return;
        }
    }
    self->fail();
}

long WebSocketConnection::recv_cb(wslay_event_context* ws, uint8_t* buf, size_t len, int, void* arg) {
    auto* self = static_cast<WebSocketConnection*>(arg);
    // One message answered and one waiting, or a client that does not read
    // what it is sent (pongs to its pings): the rest waits in the socket.
    if (!self->waiting_.empty() || self->sink_pending() > kMaxUnsent) {
        wslay_event_set_error(ws, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    int n = evbuffer_remove(bufferevent_get_input(self->bev_), buf, len);
    if (n <= 0) {
        wslay_event_set_error(ws, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return n;
}

long WebSocketConnection::send_cb(wslay_event_context* ws, const uint8_t* data, size_t len, int, void* arg) {
    auto* self = static_cast<WebSocketConnection*>(arg);
    if (evbuffer_add(bufferevent_get_output(self->bev_), data, len) != 0) {
        wslay_event_set_error(ws, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return static_cast<long>(len);
}

void WebSocketConnection::message_cb(wslay_event_context*, const wslay_event_on_msg_recv_arg* arg, void* user) {
    auto* self = static_cast<WebSocketConnection*>(user);
    if (self->dead_) return;
    switch (arg->opcode) {
        case WSLAY_TEXT_FRAME:
            self->on_message(std::string(reinterpret_cast<const char*>(arg->msg), arg->msg_length));
            return;
        case WSLAY_BINARY_FRAME: self->close_with(1003, "binary messages are not served"); return;
        case WSLAY_CONNECTION_CLOSE:
            // wslay answers the close; a message in flight is cancelled.
            if (self->current_) {
                self->current_->on_client_gone();
                self->waiting_.clear();
            }
            return;
        default: return;  // ping (wslay answers it), pong
    }
}

void WebSocketConnection::receive() {
    if (dead_) return;
    if (wslay_event_recv(ws_) != 0) return fail();
    flush();
}

void WebSocketConnection::flush() {
    if (dead_) return;
    if (wslay_event_send(ws_) != 0) return fail();
    if (!wslay_event_want_read(ws_) && !wslay_event_want_write(ws_) && sink_pending() == 0) destroy_later();
}

void WebSocketConnection::close_with(uint16_t code, std::string_view reason) {
    if (dead_) return;
    if (current_) current_->on_client_gone();
    waiting_.clear();
    wslay_event_queue_close(ws_, code, reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
    wslay_event_shutdown_read(ws_);
    flush();
}

void WebSocketConnection::fail() {
    if (dead_) return;
    if (current_) current_->on_client_gone();
    destroy_later();
}

void WebSocketConnection::destroy_later() {
    if (dead_) return;
    dead_ = true;
    event_active(destroy_ev_, 0, 0);
}

void WebSocketConnection::destroy_cb(int, short, void* arg) {
    auto* self = static_cast<WebSocketConnection*>(arg);
    log::debug("websocket {}: closed", self->fd_);
    delete self;
}

void WebSocketConnection::set_idle(bool idle) {
    timeval idle_tv{kIdleSeconds, 0}, stalled{kStalledSeconds, 0};
    bufferevent_set_timeouts(bev_, idle ? &idle_tv : nullptr, &stalled);
}

void WebSocketConnection::send_text(std::string_view text) {
    if (dead_) return;
    wslay_event_msg msg{WSLAY_TEXT_FRAME, reinterpret_cast<const uint8_t*>(text.data()), text.size()};
    if (wslay_event_queue_msg(ws_, &msg) != 0) return;
    flush();
}

void WebSocketConnection::send_error(int status, std::string_view type, std::string_view code,
                                     std::string_view message, const HeaderList* headers) {
    std::string ev = "{\"type\":\"error\",\"status\":" + std::to_string(status) + ",\"error\":{\"type\":";
    append_json_string(ev, type);
    ev += ",\"code\":";
    if (code.empty()) ev += "null";
    else append_json_string(ev, code);
    ev += ",\"message\":";
    append_json_string(ev, message);
    ev += ",\"param\":null}";
    if (headers && !headers->empty()) {
        ev += ",\"headers\":{";
        bool first = true;
        for (const auto& [k, v] : *headers) {
            if (!first) ev += ',';
            first = false;
            append_json_string(ev, lower(k));
            ev += ':';
            append_json_string(ev, v);
        }
        ev += '}';
    }
    ev += '}';
    send_text(ev);
}

// --- messages

void WebSocketConnection::on_message(std::string text) {
    if (current_ || !waiting_.empty()) {
        // A client waits for each answer (Codex does); what one that does
        // not sends meanwhile is bounded: reading pauses with one waiting,
        // and only what wslay had read already may add a few more.
        if (waiting_.size() >= kMaxWaiting) return close_with(1008, "too many messages before an answer");
        waiting_.push_back(std::move(text));
        return;
    }
    serve(std::move(text));
}

void WebSocketConnection::serve(std::string text) {
    if (worker_.runtime().draining.load(std::memory_order_relaxed)) return close_with(1001, "server stopping");
    translate::SocketRequest r = conversation_.read(text);
    text.clear();
    text.shrink_to_fit();
    switch (r.kind) {
        case translate::SocketRequest::Kind::Ignore: return;
        case translate::SocketRequest::Kind::Error:
            return send_error(r.status, "invalid_request_error", r.code, r.message);
        case translate::SocketRequest::Kind::Create: return serve_create(std::move(r));
    }
}

void WebSocketConnection::serve_create(translate::SocketRequest r) {
    message_headers_ = headers_;
    for (auto& [k, v] : r.headers) {
        std::string name = lower(k);
        if (upgrade_field(name) || name == "authorization" || name == "x-api-key" || name == "x-goog-api-key")
            continue;  // a message cannot change who it is from
        message_headers_.emplace_back(std::move(name), std::move(v));
    }
    message_body_ = std::move(r.body);
    status_ = 0;
    error_body_.clear();
    framer_.clear();
    completed_ = false;
    drain_wanted_ = false;

    current_ = std::make_unique<RequestContext>(*this, message_headers_, worker_, worker_.runtime().snapshot());
    RequestContext& ctx = *current_;
    ctx.method = HttpMethod::Post;
    ctx.method_text = "WS";
    ctx.path = "/v1/responses";
    ctx.route = classify(HttpMethod::Post, ctx.path, "", false);
    ctx.peer_is_ip = peer_.is_ip;
    ctx.peer = peer_.addr;
    ctx.client = peer_.addr;
    ctx.body_data = message_body_.c_str();
    ctx.body_len = message_body_.size();
    ctx.body_received = message_body_.size();
    set_idle(false);
    ctx.pause();
    // The connection's key, address and client are checked again for every
    // message: a reload that revokes them ends the next one.
    StageResult res = ctx.snap->chain.run(Phase::Headers, ctx);
    if (ctx.client_text.empty()) ctx.client_text = peer_.is_ip ? peer_.addr.str() : "unix";
    if (res != StageResult::Continue || ctx.has_reply()) return;
    if (!r.generate) {
        // Codex's warm-up: nothing for a model to do. The answer is local.
        ctx.route.op = Operation::ResponsesSocket;
        ctx.route.model = r.model;
        ctx.access.status = 200;
        for (const std::string& ev : conversation_.warm_up(r.model)) send_text(ev);
        completed_ = true;
        ctx.complete();
        sink_finished();
        return;
    }
    res = ctx.snap->chain.run(Phase::Body, ctx);
    if (res == StageResult::Continue && !ctx.has_reply()) ctx.fail(ErrorKind::Internal, "no stage answered the request");
}

void WebSocketConnection::next_cb(int, short, void* arg) {
    auto* self = static_cast<WebSocketConnection*>(arg);
    self->current_.reset();
    self->message_body_.clear();
    self->message_body_.shrink_to_fit();
    if (self->dead_) return;
    self->set_idle(true);
    if (!self->waiting_.empty()) {
        std::string next = std::move(self->waiting_.front());
        self->waiting_.pop_front();
        self->serve(std::move(next));
    }
    // Reading may have waited on the queue.
    self->receive();
}

// --- the answer of the message in flight

void WebSocketConnection::relay_event(std::string_view data) {
    if (data.empty() || data == "[DONE]") return;
    translate::JsonDoc doc;
    std::string_view type;
    // The terminal and error events are looked at; the rest (the deltas) is
    // relayed as is.
    auto has = [&](std::string_view t) { return data.find(t) != std::string_view::npos; };
    bool look = has("\"response.completed\"") || has("\"response.failed\"") || has("\"response.incomplete\"") ||
                has("\"error\"");
    if (look && translate::parse_json(data, doc) && doc.IsObject()) type = translate::get_string(translate::member(doc, "type"));
    if (type == "response.completed" || type == "response.failed" || type == "response.incomplete") completed_ = true;
    if (type == "error" && !translate::member(doc, "status")) {
        // The stream's own error event: Codex reads an error frame only
        // with a status.
        const translate::JsonValue* e = translate::member(doc, "error");
        if (!translate::is_object(e)) e = &doc;
        std::string_view code = translate::get_string(translate::member(*e, "code"));
        std::string_view etype = translate::get_string(translate::member(*e, "type"));
        int status = code.find("rate_limit") != std::string_view::npos ? 429
                     : etype == "invalid_request_error"                   ? 400
                                                                          : 502;
        send_error(status, etype.empty() ? "server_error" : etype, code,
                   translate::get_string(translate::member(*e, "message")));
        completed_ = true;
        conversation_.on_failed();
        return;
    }
    conversation_.on_event(data);
    send_text(data);
}

void WebSocketConnection::sink_whole(int status, std::string_view body, std::string_view) {
    if (status >= 200 && status < 300) {
        // A whole response where a stream was asked for: its terminal event.
        std::string ev = "{\"type\":\"response.completed\",\"response\":";
        ev.append(body);
        ev += '}';
        relay_event(ev);
        return;
    }
    conversation_.on_failed();
    translate::JsonDoc doc;
    const translate::JsonValue* e = nullptr;
    if (translate::parse_json(body, doc) && doc.IsObject()) e = translate::member(doc, "error");
    std::string_view message = e ? translate::get_string(translate::member(*e, "message")) : std::string_view();
    std::string_view type = e ? translate::get_string(translate::member(*e, "type")) : std::string_view();
    std::string_view code = e ? translate::get_string(translate::member(*e, "code")) : std::string_view();
    send_error(status, type.empty() ? "server_error" : type, code,
               message.empty() ? std::string_view(body.substr(0, 512)) : message,
               current_ ? &current_->response_headers() : nullptr);
}

void WebSocketConnection::sink_start(int status) { status_ = status; }

void WebSocketConnection::sink_write(const char* data, size_t len) {
    if (status_ < 200 || status_ >= 300) {
        // A streamed error answer: sent whole at its end.
        if (error_body_.size() < 64 * 1024) error_body_.append(data, std::min(len, 64 * 1024 - error_body_.size()));
        return;
    }
    bool ok = framer_.feed(std::string_view(data, len), [&](const sse::Event& ev) { relay_event(ev.data); });
    if (!ok) sink_abort();
}

void WebSocketConnection::sink_end() {
    if (status_ < 200 || status_ >= 300) return sink_whole(status_, error_body_, "");
    framer_.finish([&](const sse::Event& ev) { relay_event(ev.data); });
    if (!completed_) {
        conversation_.on_failed();
        send_error(502, "server_error", "stream_incomplete", "the upstream stream ended before response.completed");
    }
}

void WebSocketConnection::sink_abort() {
    conversation_.on_failed();
    close_with(1011, "the answer could not be completed");
}

size_t WebSocketConnection::sink_pending() const { return bev_ ? evbuffer_get_length(bufferevent_get_output(bev_)) : 0; }

void WebSocketConnection::sink_watch_drain(size_t low) {
    drain_wanted_ = true;
    bufferevent_setwatermark(bev_, EV_WRITE, low, 0);
}

void WebSocketConnection::sink_finished() {
    // Not from inside the Exchange's call: the context is freed from the loop.
    if (next_ev_) event_active(next_ev_, 0, 0);
}

}  // namespace agd
