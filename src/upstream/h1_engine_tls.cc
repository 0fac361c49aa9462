// H1Engine over TLS: the handshake, writing the request and reading the
// answer through OpenSSL on the connection's non-blocking socket (see
// h1_engine.h). Every OpenSSL call starts with a clear error queue: libcurl
// shares the thread's queue, and a stale entry would be read as this call's.
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "upstream/h1_conn.h"
#include "upstream/h1_engine.h"

namespace agd::upstream {

namespace {

bool ip_literal(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

bool H1Conn::keep_session(SSL_SESSION* s) { return engine->keep_session(key, s); }

bool H1Engine::keep_session(const std::string& key, SSL_SESSION* s) {
    auto it = sessions_.find(key);
    if (it != sessions_.end()) {
        SSL_SESSION_free(it->second);
        it->second = s;
        return true;
    }
    if (sessions_.size() >= kMaxSessions) {
        SSL_SESSION_free(sessions_.begin()->second);
        sessions_.erase(sessions_.begin());
    }
    sessions_.emplace(key, s);
    return true;
}

void H1Engine::start_tls(H1Transfer* t) {
    H1Conn* c = t->conn_;
    ERR_clear_error();
    c->ssl = SSL_new(t->tls_->ctx());
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        c->clean = false;
        fail(t, Outcome::ConnectFailed, "cannot start TLS with " + where(t) + ": " + tls_failure(nullptr, SSL_ERROR_SSL, 0));
        return;
    }
    SSL_set_app_data(c->ssl, static_cast<TlsSessionSink*>(c));
    // The name (or address) in the URL is what the certificate must name.
    if (ip_literal(t->host_)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), t->host_.c_str());
    } else {
        SSL_set_tlsext_host_name(c->ssl, t->host_.c_str());
        SSL_set1_host(c->ssl, t->host_.c_str());
    }
    auto s = sessions_.find(c->key);
    if (s != sessions_.end()) SSL_set_session(c->ssl, s->second);
    SSL_set_connect_state(c->ssl);
    c->handshaking = true;
    // The connect deadline covers the handshake (on_timer).
    timeval tv = connect_time_left(t);
    if (!t->deferred_) evtimer_add(t->timer_, &tv);
    handshake_step(t);
}

void H1Engine::handshake_step(H1Transfer* t) {
    H1Conn* c = t->conn_;
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->handshaking = false;
        event_base_gettimeofday_cached(base_, &t->last_read_);
        arm_idle(t);
        send(t);
        return;
    }
    int saved = errno;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return;  // the read event is armed
    if (e == SSL_ERROR_WANT_WRITE) {
        event_add(c->wev, nullptr);
        return;
    }
    std::string why = tls_failure(c->ssl, e, saved);
    // What a plain-HTTP server answers to a ClientHello reads as a record
    // of an unknown version.
    if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_WRONG_VERSION_NUMBER)
        why += " (the upstream may not speak TLS: should its URL be http://?)";
    c->clean = false;
    fail(t, Outcome::ConnectFailed, "TLS handshake with " + where(t) + " failed: " + why);
}

void H1Engine::tls_send(H1Transfer* t) {
    H1Conn* c = t->conn_;
    size_t head = t->head_.size(), total = head + t->body_len_;
    while (t->sent_ < total) {
        const char* p;
        size_t len;
        bool body = t->sent_ >= head;
        if (!body) {
            p = t->head_.data() + t->sent_;
            len = head - t->sent_;
        } else {
            // A retried write may be longer (a source got more), never
            // shorter (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, partial writes).
            std::string_view b = body_at(t, t->sent_ - head);
            if (b.empty()) {  // a streamed body: the rest has not arrived
                t->starved_ = true;
                break;
            }
            p = b.data();
            len = b.size();
        }
        ERR_clear_error();
        size_t w = 0;
        int r = SSL_write_ex(c->ssl, p, len, &w);
        if (r == 1) {
            t->sent_ += w;
            if (body) body_sent(t, w);
            continue;
        }
        int saved = errno;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE) {
            event_add(c->wev, nullptr);
            return;
        }
        if (e == SSL_ERROR_WANT_READ) {
            c->write_wants_read = true;
            return;
        }
        retry_or_fail(t, "failed to send the request to " + where(t) + ": " + tls_failure(c->ssl, e, saved));
        return;
    }
    // Records OpenSSL read while writing give no readiness event.
    if (SSL_has_pending(c->ssl)) event_active(c->rev, EV_READ, 1);
}

void H1Engine::tls_read_answer(H1Transfer* t) {
    H1Conn* c = t->conn_;
    char* buf = buf_.get();
    size_t fill = 0;
    int e = SSL_ERROR_NONE, saved = 0;
    // Every record OpenSSL has (read-ahead took what the kernel had), into
    // the one buffer, then to the parser at once.
    for (;;) {
        ERR_clear_error();
        size_t n = 0;
        int r = SSL_read_ex(c->ssl, buf + fill, kReadBuffer - fill, &n);
        if (r == 1) {
            fill += n;
            if (fill < kReadBuffer && SSL_has_pending(c->ssl)) continue;
            break;
        }
        saved = errno;
        e = SSL_get_error(c->ssl, r);
        break;
    }
    if (fill > 0) {
        event_base_gettimeofday_cached(base_, &t->last_read_);
        if (process(t, buf, fill) != Progress::Running) return;
    }
    switch (e) {
        case SSL_ERROR_NONE:  // the buffer is full: come back for the rest from the loop
            if (SSL_has_pending(c->ssl)) event_active(c->rev, EV_READ, 1);
            return;
        case SSL_ERROR_WANT_READ: return;
        case SSL_ERROR_WANT_WRITE:
            c->read_wants_write = true;
            event_add(c->wev, nullptr);
            return;
        default: break;
    }
    bool eof = e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && saved == 0 && ERR_peek_last_error() == 0);
    if (eof && t->parser_.eof()) {  // a body delimited by the close
        complete(t, false);
        return;
    }
    std::string why = eof ? std::string() : tls_failure(c->ssl, e, saved);
    if (!t->parser_.started()) {
        retry_or_fail(t, eof ? "empty reply from " + where(t) : "connection to " + where(t) + " failed: " + why);
        return;
    }
    fail(t, Outcome::Reset,
         eof ? "connection to " + where(t) + " closed before the answer was complete"
             : "connection to " + where(t) + " failed during the answer: " + why);
}

bool H1Engine::tls_leftover(H1Conn* c) {
    // The upstream's close_notify was read with the answer: it takes no
    // other request (SSL_has_pending no longer tells: the alert is consumed).
    if (SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN) return true;
    // Bytes after the answer: a session ticket (fine: it is taken now) or
    // anything else (the connection cannot carry another request). Not only
    // those OpenSSL holds (SSL_has_pending): its read-ahead stops where a
    // record it completes ends, so a record sent right behind the answer
    // may still be on the socket; this read takes it (or finds none).
    ERR_clear_error();
    char b;
    size_t n = 0;
    int r = SSL_read_ex(c->ssl, &b, 1, &n);
    if (r == 1) return true;
    return SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ;
}

void H1Engine::tls_idle_readable(H1Conn* c) {
    // A pooled connection became readable: a late session ticket or key
    // update keeps it; answer bytes nobody asked for, a close or an error
    // end it.
    ERR_clear_error();
    char b;
    size_t n = 0;
    int r = SSL_read_ex(c->ssl, &b, 1, &n);
    if (r != 1 && SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) return;
    unpark(c);
    close_conn(c);
}

}  // namespace agd::upstream
