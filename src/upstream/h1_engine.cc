#include "upstream/h1_engine.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

#include "upstream/h1_conn.h"
#include "upstream/origin.h"

namespace agd::upstream {

namespace {

constexpr timeval kSweepEvery{10, 0};

timeval to_tv(std::chrono::milliseconds ms) {
    timeval tv;
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

long long ms_between(const timeval& from, const timeval& to) {
    return (static_cast<long long>(to.tv_sec) - from.tv_sec) * 1000 + (to.tv_usec - from.tv_usec) / 1000;
}

timeval add_ms(timeval tv, long long ms) {
    long long us = static_cast<long long>(tv.tv_usec) + (ms % 1000) * 1000;
    tv.tv_sec += static_cast<time_t>(ms / 1000 + us / 1000000);
    tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
    return tv;
}

}  // namespace

H1Engine::H1Engine(event_base* base)
    : base_(base), resolver_(base), buf_(new char[kReadBuffer]), sweep_(evtimer_new(base, &H1Engine::on_sweep, this)) {}

H1Engine::~H1Engine() {
    while (transfers_) destroy(transfers_);  // requests torn down with the worker: no callbacks
    for (auto& [key, conns] : idle_)
        for (H1Conn* c : conns) close_conn(c);
    for (auto& [key, s] : sessions_) SSL_SESSION_free(s);
    event_free(sweep_);
}

Transfer* H1Engine::start(const Request& req, Listener* listener, bool& declined) {
    declined = true;
    if (!req.native_ok || !req.proxy.empty()) return nullptr;
    Origin o;
    std::string_view target;
    if (!parse_origin(req.url, o, target) || (o.tls && !req.tls)) return nullptr;
    if (o.tls) {  // connections that trust other certificates are other connections
        o.key += '\n';
        o.key += std::to_string(req.tls->id());
    }
    auto pool = idle_.find(o.key);
    bool pooled = pool != idle_.end() && !pool->second.empty();
    const std::vector<Address>* addrs = nullptr;
    if (!pooled) {
        addrs = resolver_.lookup(o.host, o.port);
        if (!addrs) return nullptr;  // not resolved yet: libcurl resolves it in its own thread
    }
    declined = false;

    auto* t = new H1Transfer();
    t->engine_ = this;
    t->listener_ = listener;
    t->key_ = std::move(o.key);
    t->tls_ = o.tls ? req.tls : nullptr;
    t->host_ = std::move(o.host);
    t->port_ = o.port;
    t->body_ = req.post ? req.body : nullptr;
    t->body_len_ = req.post ? req.body_len : 0;
    t->source_ = req.post ? req.source : nullptr;
    t->idle_timeout_ = req.idle_timeout;
    t->connect_timeout_ = req.connect_timeout;

    size_t need = 64 + target.size() + o.authority.size();
    for (const std::string& h : req.headers) need += h.size() + 2;
    // https: a small body joins the head, so that the request is one record
    // in one write rather than two.
    bool coalesce = t->tls_ && !t->source_ && t->body_len_ > 0 && need + t->body_len_ <= kCoalesce;
    if (coalesce) need += t->body_len_;
    std::string& head = t->head_;
    head.reserve(need);
    head += req.post ? "POST " : "GET ";
    if (target.front() == '?') head += '/';
    head += target;
    head += " HTTP/1.1\r\nHost: ";
    head += o.authority;
    head += "\r\n";
    for (const std::string& h : req.headers) {
        head += h;
        head += "\r\n";
    }
    if (req.post) {
        head += "Content-Length: ";
        head += std::to_string(t->body_len_);
        head += "\r\n";
    }
    head += "\r\n";
    if (coalesce) {
        head.append(t->body_, t->body_len_);
        t->body_ = nullptr;
        t->body_len_ = 0;
    }

    t->timer_ = evtimer_new(base_, &H1Engine::on_timer, t);
    event_base_gettimeofday_cached(base_, &t->last_read_);
    arm_idle(t);
    t->next_ = transfers_;
    if (transfers_) transfers_->prev_ = t;
    transfers_ = t;
    ++active_;

    // A failure from here on is reported from the loop, never inside start().
    t->starting_ = true;
    if (pooled) {
        H1Conn* c = pool->second.back();
        pool->second.pop_back();
        --idle_count_;
        attach(t, c);
    } else {
        t->addrs_ = *addrs;
        t->connect_deadline_ = add_ms(t->last_read_, t->connect_timeout_.count());
        connect_next(t);
    }
    t->starting_ = false;
    return t;
}

void H1Engine::connect_next(H1Transfer* t) {
    while (t->next_addr_ < t->addrs_.size()) {
        const Address& a = t->addrs_[t->next_addr_++];
        int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0) {
            t->connect_error_ = std::strerror(errno);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len);
        if (r != 0 && errno != EINPROGRESS) {
            t->connect_error_ = std::strerror(errno);
            ::close(fd);
            continue;
        }
        auto* c = new H1Conn();
        c->engine = this;
        c->fd = fd;
        c->key = t->key_;
        c->rev = event_new(base_, fd, EV_READ | EV_PERSIST, &H1Engine::on_read, c);
        c->wev = event_new(base_, fd, EV_WRITE, &H1Engine::on_write, c);
        c->t = t;
        t->conn_ = c;
        if (r == 0) {
            connected(t);
            return;
        }
        c->connecting = true;
        timeval tv = connect_time_left(t);
        event_add(c->wev, &tv);
        return;
    }
    fail(t, Outcome::ConnectFailed,
         "failed to connect to " + where(t) + ": " +
             (t->connect_error_.empty() ? std::string("no address") : t->connect_error_));
}

timeval H1Engine::connect_time_left(const H1Transfer* t) const {
    timeval now;
    event_base_gettimeofday_cached(base_, &now);
    long long left = ms_between(now, t->connect_deadline_);
    return to_tv(std::chrono::milliseconds(left > 0 ? left : 0));
}

void H1Engine::arm_idle(H1Transfer* t) {
    if (t->idle_timeout_.count() <= 0) {
        evtimer_del(t->timer_);
        return;
    }
    timeval tv = to_tv(t->idle_timeout_);
    evtimer_add(t->timer_, &tv);
}

void H1Engine::connected(H1Transfer* t) {
    set_reading(t->conn_, true);
    if (t->tls_) start_tls(t);
    else send(t);
}

void H1Engine::attach(H1Transfer* t, H1Conn* c) {
    c->t = t;
    t->conn_ = c;
    send(t);
}

void H1Engine::send(H1Transfer* t) {
    H1Conn* c = t->conn_;
    if (c->ssl) {
        tls_send(t);
        return;
    }
    size_t head = t->head_.size(), total = head + t->body_len_;
    while (t->sent_ < total) {
        iovec iov[2];
        int n = 0;
        size_t head_left = t->sent_ < head ? head - t->sent_ : 0;
        if (head_left) iov[n++] = {const_cast<char*>(t->head_.data()) + t->sent_, head_left};
        std::string_view body = body_at(t, t->sent_ + head_left - head);
        if (!body.empty()) iov[n++] = {const_cast<char*>(body.data()), body.size()};
        if (n == 0) {  // a streamed body: the rest has not arrived
            t->starved_ = true;
            return;
        }
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<size_t>(n);
        ssize_t w = ::sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (w > 0) {
            t->sent_ += static_cast<size_t>(w);
            if (static_cast<size_t>(w) > head_left) body_sent(t, static_cast<size_t>(w) - head_left);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(c->wev, nullptr);
            return;
        }
        retry_or_fail(t, std::string("failed to send the request to ") + where(t) + ": " +
                             std::strerror(w < 0 ? errno : EPIPE));
        return;
    }
}

std::string_view H1Engine::body_at(H1Transfer* t, size_t at) {
    if (!t->source_) return std::string_view(t->body_, t->body_len_).substr(at);
    std::string_view ready = t->source_->ready();
    return ready.substr(0, t->body_len_ - at);  // never past the length the head declared
}

void H1Engine::body_sent(H1Transfer* t, size_t n) {
    if (!t->source_) return;
    t->source_->sent(n);
    // An upload on its way counts as activity: the idle timeout is for a
    // silent upstream, not for a long body.
    event_base_gettimeofday_cached(base_, &t->last_read_);
}

void H1Engine::on_write(int, short events, void* arg) {
    auto* c = static_cast<H1Conn*>(arg);
    H1Engine* self = c->engine;
    H1Transfer* t = c->t;
    if (c->handshaking) {
        self->handshake_step(t);
        return;
    }
    if (!c->connecting) {
        if (c->read_wants_write) {  // SSL_read had bytes to write first
            c->read_wants_write = false;
            self->tls_read_answer(t);
            return;
        }
        self->send(t);
        return;
    }
    if (events & EV_TIMEOUT) {
        self->fail(t, Outcome::Timeout,
                   "connection to " + self->where(t) + " timed out after " +
                       std::to_string(t->connect_timeout_.count()) + " ms");
        return;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
        t->connect_error_ = std::strerror(err);
        t->conn_ = nullptr;
        self->close_conn(c);
        self->connect_next(t);
        return;
    }
    c->connecting = false;
    self->connected(t);
}

void H1Engine::on_read(int, short, void* arg) {
    auto* c = static_cast<H1Conn*>(arg);
    H1Engine* self = c->engine;
    H1Transfer* t = c->t;
    if (!t) {
        if (c->ssl) {
            self->tls_idle_readable(c);
            return;
        }
        // Pooled: the upstream closed the connection, or sent what it must not.
        ssize_t n = ::recv(c->fd, self->buf_.get(), kReadBuffer, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        self->unpark(c);
        self->close_conn(c);
        return;
    }
    if (c->handshaking) {
        self->handshake_step(t);
        return;
    }
    if (c->write_wants_read) {  // SSL_write waited for a record from the peer
        c->write_wants_read = false;
        self->send(t);
        return;
    }
    if (t->paused_) return;
    if (!t->pending_.empty()) {  // resume(): first what the listener did not take
        std::string held;
        held.swap(t->pending_);
        if (self->process(t, held.data(), held.size()) != Progress::Running) return;
        self->set_reading(c, true);
        if (c->ssl && SSL_has_pending(c->ssl)) self->tls_read_answer(t);  // no readiness event for those
        return;
    }
    self->read_answer(t);
}

void H1Engine::read_answer(H1Transfer* t) {
    H1Conn* c = t->conn_;
    if (c->ssl) {
        tls_read_answer(t);
        return;
    }
    ssize_t n = ::recv(c->fd, buf_.get(), kReadBuffer, 0);
    if (n > 0) {
        event_base_gettimeofday_cached(base_, &t->last_read_);
        process(t, buf_.get(), static_cast<size_t>(n));
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    int err = n < 0 ? errno : 0;
    if (err == 0 && t->parser_.eof()) {  // a body delimited by the close
        complete(t, false);
        return;
    }
    if (!t->parser_.started()) {
        retry_or_fail(t, err ? "connection to " + where(t) + " failed: " + std::strerror(err)
                             : "empty reply from " + where(t));
        return;
    }
    fail(t, Outcome::Reset,
         err ? "connection to " + where(t) + " failed during the answer: " + std::strerror(err)
             : "connection to " + where(t) + " closed before the answer was complete");
}

H1Engine::Progress H1Engine::process(H1Transfer* t, const char* data, size_t len) {
    size_t pos = 0;
    for (;;) {
        ResponseParser::Step st = t->parser_.feed(data + pos, len - pos);
        pos += st.used;
        switch (st.event) {
            case ResponseParser::Event::NeedMore: return Progress::Running;
            case ResponseParser::Event::Head:
                t->listener_->on_headers(t->parser_.status(), std::move(t->parser_.headers()));
                break;
            case ResponseParser::Event::Body: {
                size_t r = t->listener_->on_body(st.body.data(), st.body.size());
                if (r == Listener::kPause) {
                    t->pending_.assign(data + pos, len - pos);
                    t->paused_ = true;
                    set_reading(t->conn_, false);
                    return Progress::Paused;
                }
                if (r != st.body.size()) {
                    fail(t, Outcome::Aborted, "the answer was refused by its receiver");
                    return Progress::Finished;
                }
                t->parser_.consume_body(r);
                pos += r;
                break;
            }
            case ResponseParser::Event::Done: complete(t, pos < len); return Progress::Finished;
            case ResponseParser::Event::Error:
                fail(t, Outcome::Reset, "malformed answer from " + where(t) + ": " + t->parser_.error());
                return Progress::Finished;
        }
    }
}

void H1Engine::complete(H1Transfer* t, bool leftover) {
    if (H1Conn* c = t->conn_) {
        t->conn_ = nullptr;
        c->t = nullptr;
        bool reuse = !leftover && t->parser_.keep_alive() && t->sent_ == t->head_.size() + t->body_len_ &&
                     idle_count_ < kMaxIdle && !(c->ssl && tls_leftover(c));
        if (reuse) park(c);
        else close_conn(c);
    }
    finish(t, Outcome::Ok, {});
}

void H1Engine::retry_or_fail(H1Transfer* t, std::string message) {
    H1Conn* c = t->conn_;
    bool retry = c && c->reused && !t->retried_ && !t->parser_.started() && (!t->source_ || t->source_->rewind());
    if (c) {
        t->conn_ = nullptr;
        close_conn(c);
    }
    const std::vector<Address>* addrs = retry ? resolver_.lookup(t->host_, t->port_) : nullptr;
    if (!addrs) {
        fail(t, Outcome::Reset, std::move(message));
        return;
    }
    // The pooled connection had been closed by the upstream: send again, once, on a new one.
    t->retried_ = true;
    t->sent_ = 0;
    t->starved_ = false;
    t->parser_ = ResponseParser();
    t->addrs_ = *addrs;
    t->next_addr_ = 0;
    timeval now;
    event_base_gettimeofday_cached(base_, &now);
    t->connect_deadline_ = add_ms(now, t->connect_timeout_.count());
    connect_next(t);
}

void H1Engine::fail(H1Transfer* t, Outcome outcome, std::string message) {
    if (H1Conn* c = t->conn_) {  // an answer cut short: the connection cannot carry another
        t->conn_ = nullptr;
        c->clean = false;
        close_conn(c);
    }
    if (t->starting_) {
        t->deferred_ = true;
        t->deferred_outcome_ = outcome;
        t->deferred_message_ = std::move(message);
        event_active(t->timer_, EV_TIMEOUT, 1);
        return;
    }
    finish(t, outcome, message);
}

void H1Engine::finish(H1Transfer* t, Outcome outcome, std::string_view message) {
    Listener* l = t->listener_;
    std::string msg(message);  // message may live in t
    destroy(t);                // the connection is back in the pool before a retry starts
    l->on_done(outcome, msg);
}

void H1Engine::destroy(H1Transfer* t) {
    if (H1Conn* c = t->conn_) {
        t->conn_ = nullptr;
        close_conn(c);
    }
    event_free(t->timer_);
    if (t->prev_) t->prev_->next_ = t->next_;
    else transfers_ = t->next_;
    if (t->next_) t->next_->prev_ = t->prev_;
    --active_;
    delete t;
}

void H1Engine::on_timer(int, short, void* arg) {
    auto* t = static_cast<H1Transfer*>(arg);
    H1Engine* self = t->engine_;
    if (t->deferred_) {
        self->finish(t, t->deferred_outcome_, t->deferred_message_);
        return;
    }
    timeval now;
    event_base_gettimeofday_cached(self->base_, &now);
    if (t->conn_ && t->conn_->handshaking) {  // the connect deadline covers the TLS handshake
        long long left = ms_between(now, t->connect_deadline_);
        if (left > 0) {
            timeval tv = to_tv(std::chrono::milliseconds(left));
            evtimer_add(t->timer_, &tv);
            return;
        }
        self->fail(t, Outcome::Timeout,
                   "TLS handshake with " + self->where(t) + " timed out after " +
                       std::to_string(t->connect_timeout_.count()) + " ms");
        return;
    }
    if (t->paused_) return;  // waiting on the client, not on the upstream; resume() re-arms
    long long quiet = ms_between(t->last_read_, now), limit = t->idle_timeout_.count();
    if (quiet < limit) {  // bytes came since the timer was armed: wait for the rest
        timeval tv = to_tv(std::chrono::milliseconds(limit - quiet));
        evtimer_add(t->timer_, &tv);
        return;
    }
    self->fail(t, Outcome::Timeout, "no data from upstream for " + std::to_string(limit) + " ms");
}

void H1Engine::park(H1Conn* c) {
    c->reused = true;
    event_base_gettimeofday_cached(base_, &c->idle_since);
    set_reading(c, true);  // a close by the upstream shows as readable
    idle_[c->key].push_back(c);
    ++idle_count_;
    if (!evtimer_pending(sweep_, nullptr)) evtimer_add(sweep_, &kSweepEvery);
}

void H1Engine::unpark(H1Conn* c) {
    auto it = idle_.find(c->key);
    if (it == idle_.end()) return;
    auto& v = it->second;
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == c) {
            v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
            --idle_count_;
            return;
        }
    }
}

void H1Engine::on_sweep(int, short, void* arg) {
    auto* self = static_cast<H1Engine*>(arg);
    timeval now;
    event_base_gettimeofday_cached(self->base_, &now);
    long long max_ms = std::chrono::duration_cast<std::chrono::milliseconds>(kIdleMax).count();
    for (auto& [key, conns] : self->idle_) {
        size_t old = 0;  // oldest first
        while (old < conns.size() && ms_between(conns[old]->idle_since, now) >= max_ms) ++old;
        for (size_t i = 0; i < old; ++i) self->close_conn(conns[i]);
        conns.erase(conns.begin(), conns.begin() + static_cast<std::ptrdiff_t>(old));
        self->idle_count_ -= old;
    }
    if (self->idle_count_ > 0) evtimer_add(self->sweep_, &kSweepEvery);
}

void H1Engine::close_conn(H1Conn* c) {
    if (c->ssl) {
        // A quiet close (idle, closed by the upstream, leftover bytes) keeps
        // the session resumable; OpenSSL forgets one whose connection was
        // not shut down.
        if (c->clean && !c->handshaking) SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl);
    }
    event_free(c->rev);
    event_free(c->wev);
    ::close(c->fd);
    delete c;
}

void H1Engine::set_reading(H1Conn* c, bool on) {
    if (c->reading == on) return;
    c->reading = on;
    if (on) event_add(c->rev, nullptr);
    else event_del(c->rev);
}

std::string H1Engine::where(const H1Transfer* t) const { return t->host_ + " port " + std::to_string(t->port_); }

void H1Transfer::pause() {
    if (paused_) return;
    paused_ = true;
    if (conn_) engine_->set_reading(conn_, false);
}

void H1Transfer::resume() {
    if (!paused_) return;
    paused_ = false;
    event_base_gettimeofday_cached(engine_->base_, &last_read_);
    if (!deferred_) engine_->arm_idle(this);
    if (!conn_) return;
    if (pending_.empty()) engine_->set_reading(conn_, true);
    // Held bytes, or bytes OpenSSL holds (no readiness event for those):
    // delivered from the loop (on_read).
    if (!pending_.empty() || (conn_->ssl && SSL_has_pending(conn_->ssl))) event_active(conn_->rev, EV_READ, 1);
}

void H1Transfer::cancel() { engine_->destroy(this); }

void H1Transfer::body_more() {
    if (!starved_ || !conn_ || deferred_) return;
    starved_ = false;
    starting_ = true;  // a failure is reported from the loop
    engine_->send(this);
    starting_ = false;
}

}  // namespace agd::upstream
