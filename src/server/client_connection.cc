#include "server/client_connection.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <evhtp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <fcntl.h>

#include <algorithm>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cidr.h"
#include "common/log.h"
#include "config/config.h"
#include "pipeline/classify.h"
#include "server/linger.h"
#include "server/request_context.h"
#include "server/runtime.h"
#include "server/snapshot.h"
#include "server/worker.h"

namespace agd {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;

const char* reason_phrase(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 501: return "Not Implemented";
        default: return "Error";
    }
}

// What the parser's error means for the client (htparse's own names are
// internal).
const char* parse_error_text(htpparse_error e) {
    switch (e) {
        case htparse_error_inval_method: return "malformed request: invalid method";
        case htparse_error_inval_reqline: return "malformed request: invalid request line";
        case htparse_error_inval_schema: return "malformed request: invalid URI";
        case htparse_error_inval_proto: return "malformed request: invalid protocol";
        case htparse_error_inval_ver: return "malformed request: invalid HTTP version";
        case htparse_error_inval_hdr: return "malformed request: invalid header line";
        case htparse_error_inval_chunk_sz: return "malformed request: invalid chunk size";
        case htparse_error_inval_chunk: return "malformed request: invalid chunk";
        default: return "malformed request";
    }
}

// "60 s", "300 ms": a configured timeout in the words of an error message.
std::string duration_text(int64_t ns) {
    int64_t ms = ns / kNsPerMs;
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

}  // namespace

ClientConnection::ClientConnection(evhtp_connection* conn, Worker& worker) : conn_(conn), worker_(worker) {
    auto snap = worker.runtime().snapshot();  // held while its config is read
    const config::ServerConfig& s = snap->config->server;
    header_timeout_ns_ = static_cast<int64_t>(s.client_header_timeout.count()) * kNsPerMs;
    body_timeout_ns_ = static_cast<int64_t>(s.client_body_timeout.count()) * kNsPerMs;
    count_peer(*snap);
    timer_ = evtimer_new(worker.base(), &ClientConnection::timer_cb, this);
    input_cb_ = evbuffer_add_cb(bufferevent_get_input(conn->bev), &ClientConnection::input_cb, this);
    // Our read callback sees each read first (the start of a new head),
    // then hands it to libevhtp's.
    bufferevent_data_cb wcb = nullptr;
    bufferevent_event_cb ecb = nullptr;
    void* arg = nullptr;
    bufferevent_getcb(conn->bev, &htp_read_cb_, &wcb, &ecb, &arg);
    bufferevent_setcb(conn->bev, &ClientConnection::read_cb, wcb, ecb, arg);
    // The first head is due from the accept on.
    head_deadline_ns_ = mono_ns() + header_timeout_ns_;
    arm(head_deadline_ns_);
}

ClientConnection::~ClientConnection() {
    if (timer_) event_free(timer_);
    if (input_cb_ && conn_->bev) evbuffer_remove_cb_entry(bufferevent_get_input(conn_->bev), input_cb_);
    if (counted_) worker_.runtime().peers().release(peer_);
}

bool ClientConnection::admit() { return !refused_; }

void ClientConnection::release_bufferevent() {
    if (input_cb_ && conn_->bev) evbuffer_remove_cb_entry(bufferevent_get_input(conn_->bev), input_cb_);
    input_cb_ = nullptr;
}

void ClientConnection::count_peer(const Snapshot& snap) {
    unsigned max = snap.config->server.max_connections_per_ip;
    if (max == 0) return;
    auto ip = ip_from_sockaddr(conn_->saddr);
    if (!ip) return;  // unix-socket clients
    for (const Cidr& c : snap.config->access.trusted_proxies)
        if (c.contains(*ip)) return;  // a proxy carries many clients
    if (!worker_.runtime().peers().acquire(*ip, max)) {
        refuse(ErrorKind::RateLimited, "too many connections from " + ip->str() +
                                           " (server.max_connections_per_ip is " + std::to_string(max) + ")");
        return;
    }
    counted_ = true;
    peer_ = *ip;
}

ClientConnection* ClientConnection::of(evhtp_connection* conn) {
    return (conn && conn->hooks) ? static_cast<ClientConnection*>(conn->hooks->on_connection_fini_arg) : nullptr;
}

RequestContext* ClientConnection::context_of(evhtp_request* req) {
    // Only server.cc sets request hooks, and only once the context exists.
    return (req && req->hooks && req->hooks->on_request_fini)
               ? static_cast<RequestContext*>(req->hooks->on_request_fini_arg)
               : nullptr;
}

void ClientConnection::input_cb(evbuffer*, const evbuffer_cb_info* info, void* arg) {
    if (info->n_deleted == 0) return;
    auto* self = static_cast<ClientConnection*>(arg);
    if (self->restart_pending_) {
        // The parser's drain through the end of a request: what is left
        // starts the next one.
        self->restart_pending_ = false;
        self->scanned_ = 0;
        self->scanning_ = true;
        self->at_message_start_ = true;
        self->scanner_.reset();
        return;
    }
    self->scanned_ = info->n_deleted >= self->scanned_ ? 0 : self->scanned_ - info->n_deleted;
}

bool ClientConnection::check_input() {
    if (!scanning_) return true;
    evbuffer* in = bufferevent_get_input(conn_->bev);
    if (at_message_start_) {
        for (;;) {
            evbuffer_iovec v;
            if (evbuffer_peek(in, -1, nullptr, &v, 1) < 1 || v.iov_len == 0) return true;
            const auto* p = static_cast<const char*>(v.iov_base);
            size_t n = 0;
            while (n < v.iov_len && (p[n] == '\r' || p[n] == '\n')) ++n;
            if (n > 0) evbuffer_drain(in, n);
            if (n < v.iov_len) break;
        }
        at_message_start_ = false;
        scanned_ = 0;
    }
    if (evbuffer_get_length(in) <= scanned_) return true;
    evbuffer_ptr pos;
    if (evbuffer_ptr_set(in, &pos, scanned_, EVBUFFER_PTR_SET) != 0) return true;
    evbuffer_iovec v[8];
    int n = evbuffer_peek(in, -1, &pos, v, 8);
    for (int i = 0; i < n && i < 8; ++i) {
        size_t used = 0;
        switch (scanner_.feed(static_cast<const char*>(v[i].iov_base), v[i].iov_len, &used)) {
            case HeadScanner::Result::More: scanned_ += v[i].iov_len; break;
            case HeadScanner::Result::End:
                scanned_ += used;
                scanning_ = false;
                return true;
            case HeadScanner::Result::Bad:
                refuse(ErrorKind::BadRequest, "malformed request: a line of the head ends in a bare CR or LF");
                return false;
        }
    }
    return true;
}

void ClientConnection::read_cb(bufferevent* bev, void* arg) {
    auto* conn = static_cast<evhtp_connection*>(arg);
    ClientConnection* self = of(conn);
    if (self && !self->check_input()) {
        evhtp_connection_free(conn);  // answered by finish()
        return;
    }
    if (self && self->phase_ == Phase::Idle && evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
        // The first bytes of a new request on a kept-alive connection.
        self->phase_ = Phase::Head;
        self->head_deadline_ns_ = mono_ns() + self->header_timeout_ns_;
        self->arm(self->head_deadline_ns_);
    }
    // libevhtp's callback may free the connection (and this): nothing after it.
    void (*htp)(bufferevent*, void*) = self ? self->htp_read_cb_ : nullptr;
    if (htp) htp(bev, arg);
}

void ClientConnection::head_lines_started() { in_header_lines_ = true; }

bool ClientConnection::header_field(size_t name_len, size_t value_len) {
    header_bytes_ += name_len + value_len + 4;
    if (++header_fields_ > kMaxHeaderFields) {
        refuse(ErrorKind::HeaderTooLarge, "request head has more than " + std::to_string(kMaxHeaderFields) +
                                              " header fields");
        return false;
    }
    if (header_bytes_ > kMaxHeaderBytes) {
        refuse(ErrorKind::HeaderTooLarge,
               "request header fields exceed " + std::to_string(kMaxHeaderBytes / 1024) + " KiB");
        return false;
    }
    return true;
}

void ClientConnection::refuse(ErrorKind kind, std::string message) {
    refused_ = true;
    refusal_kind_ = kind;
    refusal_ = std::move(message);
}

void ClientConnection::head_done(bool body_follows) {
    in_header_lines_ = false;
    header_fields_ = 0;
    header_bytes_ = 0;
    phase_ = body_follows ? Phase::Body : Phase::Handling;
    body_held_ = false;
    if (body_follows) {
        last_read_ns_ = body_start_ns_ = mono_ns();
        body_bytes_ = 0;
        arm(last_read_ns_ + body_timeout_ns_);
    }
}

void ClientConnection::body_read(size_t bytes) {
    if (phase_ != Phase::Body) return;
    last_read_ns_ = mono_ns();
    body_bytes_ += bytes;
}

void ClientConnection::hold_body(bool held) {
    if (phase_ != Phase::Body || held == body_held_) return;
    body_held_ = held;
    int64_t now = mono_ns();
    if (held) {
        held_since_ns_ = now;
        return;
    }
    // The time spent held counts neither as a gap nor against the rate.
    body_start_ns_ += now - held_since_ns_;
    last_read_ns_ = now;
    arm(body_deadline());
}

int64_t ClientConnection::body_deadline() const {
    int64_t gap = last_read_ns_ + body_timeout_ns_;
    uint64_t allowance_ns = body_bytes_ / kMinBodyRate * 1'000'000'000ull;
    int64_t rate = body_start_ns_ + body_timeout_ns_ +
                   static_cast<int64_t>(std::min<uint64_t>(allowance_ns, uint64_t{1} << 62));
    return std::min(gap, rate);
}

void ClientConnection::body_done() {
    phase_ = Phase::Handling;
    body_held_ = false;
    restart_pending_ = true;
}

bool ClientConnection::waiting(bool heads_too) const {
    if (phase_ == Phase::Idle)
        return !conn_->bev || evbuffer_get_length(bufferevent_get_input(conn_->bev)) == 0 || heads_too;
    return phase_ == Phase::Head && heads_too;
}

void ClientConnection::request_done() {
    phase_ = Phase::Idle;
    in_header_lines_ = false;
    header_fields_ = 0;
    header_bytes_ = 0;
}

void ClientConnection::arm(int64_t deadline_ns) {
    // One timer, armed rarely: a timer already due earlier fires, finds the
    // deadline later, and arms itself again for what is left.
    if (timer_at_ns_ != 0 && timer_at_ns_ <= deadline_ns) return;
    int64_t left = deadline_ns - mono_ns();
    if (left < 0) left = 0;
    timeval tv{static_cast<time_t>(left / 1'000'000'000), static_cast<suseconds_t>((left % 1'000'000'000) / 1000)};
    evtimer_add(timer_, &tv);
    timer_at_ns_ = deadline_ns;
}

void ClientConnection::timer_cb(int, short, void* arg) {
    auto* self = static_cast<ClientConnection*>(arg);
    self->timer_at_ns_ = 0;
    int64_t deadline = 0;
    if (self->phase_ == Phase::Head) deadline = self->head_deadline_ns_;
    else if (self->phase_ == Phase::Body && !self->body_held_) deadline = self->body_deadline();
    else return;  // nothing to watch now (a held body is re-armed by hold_body)
    if (mono_ns() < deadline) return self->arm(deadline);
    self->expired();
}

void ClientConnection::expired() {
    if (phase_ == Phase::Body) {
        RequestContext* ctx = context_of(conn_->request);
        if (ctx && !ctx->answer_started()) {
            ctx->fail(ErrorKind::RequestTimeout,
                      "request body not received in time (server.client_body_timeout is " +
                          duration_text(body_timeout_ns_) + ", and a body must then arrive at " +
                          std::to_string(kMinBodyRate / 1024) + " KiB/s or more)");
            linger_ = true;
            phase_ = Phase::Handling;
            ctx->reply_before_body();  // answers, then the connection closes
            return;
        }
    }
    refuse_head(ErrorKind::RequestTimeout,
                "request head not received in time (server.client_header_timeout is " + duration_text(header_timeout_ns_) + ")");
}

// Answers a refused head at once and frees the connection (which deletes this).
void ClientConnection::refuse_head(ErrorKind kind, const std::string& message) {
    refuse(kind, message);
    evhtp_connection_free(conn_);
}

bool ClientConnection::reading_content_length() const {
    evhtp_request* req = conn_->request;
    if (!req || !req->headers_in) return false;
    evhtp_header_t* last = TAILQ_LAST(req->headers_in, evhtp_kvs);
    return last && !last->val && last->key && last->klen == 14 && strncasecmp(last->key, "content-length", 14) == 0;
}

// The connection is being freed with an unanswered head that the parser or
// a hook refused: answers it (400, 408, 414 or 431) straight on the socket.
bool ClientConnection::answer_malformed() {
    htpparse_error err = htparser_get_error(conn_->parser);
    if (!refused_ && err == htparse_error_none) return false;
    RequestContext* ctx = context_of(conn_->request);
    if (ctx && ctx->answer_started()) return false;
    ErrorKind kind = refusal_kind_;
    std::string message = refusal_;
    if (!refused_) {
        if (err == htparse_error_too_big) {
            // One token over the parser's 8 KiB buffer (the request line
            // or a header line), or a Content-Length that is not a number:
            // then the field being read, whose value the parser has not
            // added yet, is Content-Length.
            if (!in_header_lines_) {
                kind = ErrorKind::UriTooLong;
                message = "request line longer than 8 KiB";
            } else if (reading_content_length()) {
                kind = ErrorKind::BadRequest;
                message = "malformed Content-Length";
            } else {
                kind = ErrorKind::HeaderTooLarge;
                message = "header field longer than 8 KiB";
            }
        } else {
            kind = ErrorKind::BadRequest;
            message = parse_error_text(err);
        }
    }
    Surface surface = Surface::OpenAI;
    if (ctx) {
        surface = ctx->route.surface;
    } else if (conn_->request && conn_->request->uri && conn_->request->uri->path &&
               conn_->request->uri->path->full) {
        surface = classify(HttpMethod::Post, conn_->request->uri->path->full, "", false).surface;
    }
    ErrorReply r = error_reply(surface, kind, message);
    // The bufferevent has nothing queued here (a head is being read), so
    // the answer goes on the socket directly, before the lingering close.
    bufferevent* bev = conn_->bev;
    if (bev && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        char head[192];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n",
                         r.status, reason_phrase(r.status), r.body.size());
        std::string out(head, static_cast<size_t>(n));
        out += r.body;
        if (!conn_->ssl) {
            ssize_t sent = send(conn_->sock, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)sent;  // best effort: a small answer on an idle socket
        } else if (SSL_is_init_finished(conn_->ssl)) {
            // The same through the connection's TLS session (the bufferevent
            // has nothing pending in it either). Before the handshake is
            // over there is no way to answer: the connection just closes.
            ERR_clear_error();
            int sent = SSL_write(conn_->ssl, out.data(), static_cast<int>(out.size()));
            (void)sent;
            ERR_clear_error();
        }
    }
    if (ctx) {
        ctx->access.status = r.status;
        ctx->access.error = message;
    } else {
        log_refusal(r.status, message);
    }
    return true;
}

void ClientConnection::log_refusal(int status, const std::string& message) {
    if (!log::enabled(log::Level::Info)) return;
    std::string client = "unix";
    if (auto ip = ip_from_sockaddr(conn_->saddr)) client = ip->str();
    log::info("access id={:016x} client={} method=- path=- status={} error=\"{}\"", worker_.next_request_id(), client,
              status, message);
}

void ClientConnection::finish() {
    worker_.untrack(conn_);
    // A client that closed or failed gets nothing more.
    if (!(conn_->flags & EVHTP_CONN_FLAG_ERROR) && conn_->bev) {
        if (answer_malformed()) linger_ = true;
        if (!linger_ && evbuffer_get_length(bufferevent_get_input(conn_->bev)) > 0) linger_ = true;
        // Over TLS: the session's close_notify first (libevhtp would send
        // it after this, on a socket the lingering close has shut for
        // writing); a handshake that never finished has nothing to linger for.
        if (linger_ && conn_->ssl) {
            if (SSL_is_init_finished(conn_->ssl)) {
                ERR_clear_error();
                SSL_shutdown(conn_->ssl);
                ERR_clear_error();
            } else {
                linger_ = false;
            }
        }
        if (linger_) worker_.linger().start(fcntl(conn_->sock, F_DUPFD_CLOEXEC, 0));
    }
    delete this;
}

}  // namespace agd
