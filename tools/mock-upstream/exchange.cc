#include "exchange.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "introspect.h"
#include "pieces.h"
#include "ratelimit.h"
#include "worker.h"

namespace mock {
namespace {

constexpr int64_t kKeepAliveNs = int64_t{15} * 1000000000;
constexpr int64_t kResetPollNs = 1000000;           // 1 ms
constexpr int64_t kResetDrainNs = 500 * 1000000LL;  // give up waiting for the peer's ACK
constexpr std::size_t kHighWater = 4u << 20;        // unsent bytes before a stream waits
constexpr int64_t kBackpressurePollNs = 10 * 1000000LL;

timeval to_timeval(int64_t ns) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ns / 1000000000);
    tv.tv_usec = static_cast<suseconds_t>((ns % 1000000000) / 1000);
    return tv;
}

}  // namespace

void serve(evhtp_request_t* req, Plan plan) {
    if (plan.hangup) {
        plan.stream = false;  // nothing is answered: not a stream
    } else if (plan.script.conn_close) {
        close_after_reply(req);
    }
    if (plan.stream && plan.error_status == 0) {
        stats().streams_started.fetch_add(1);
    }
    auto ex = std::make_unique<Exchange>(req, std::move(plan));
    if (!ex->needs_loop()) {
        ex->run_now();
        return;
    }
    Worker* w = current_worker();
    if (w == nullptr) {  // every serving thread has a worker; never expected
        send_full(req, 500, {}, "text/plain", "mock: no event loop for this connection\n");
        return;
    }
    ex.release()->start_async(*w);
}

Exchange::Exchange(evhtp_request_t* req, Plan plan)
    : req_(req), conn_(req->conn), plan_(std::move(plan)) {
    const Script& s = plan_.script;
    if (plan_.stream && plan_.error_status == 0) {
        enc_ = make_encoder(plan_.reply);
        // Whichever of reset_after / mid_error comes first wins; reset on a tie.
        if (s.reset_after) {
            cut_kind_ = Cut::reset;
            cut_at_ = std::min(*s.reset_after, s.chunks);
        }
        if (s.mid_error) {
            int at = std::min(*s.mid_error, s.chunks);
            if (cut_kind_ == Cut::none || at < cut_at_) {
                cut_kind_ = Cut::error;
                cut_at_ = at;
            }
        }
    }
}

Exchange::~Exchange() {
    if (timer_ != nullptr) event_free(timer_);
    stop_watch();
}

bool Exchange::needs_loop() const {
    const Script& s = plan_.script;
    // The connection is closed from the loop, outside libevhtp's parser.
    if (plan_.hangup) return true;
    if (s.delay_ns > 0) return true;
    if (plan_.error_status != 0 || plan_.fixed_body || plan_.late) return false;
    if (s.reset_after) return true;
    if (!plan_.stream) return false;
    // A stream larger than the backpressure threshold goes through the loop
    // too, so its first pieces leave at once and a slow reader holds it back.
    constexpr std::size_t kPieceOverhead = 256;  // event framing around the text
    if (static_cast<std::size_t>(s.chunks) * (s.piece_size + kPieceOverhead) > kHighWater) return true;
    return s.pace_ns > 0 || s.hold_ns > 0 || s.first_hold_ns > 0;
}

void Exchange::run_now() { begin(); }

void Exchange::start_async(Worker& w) {
    worker_ = &w;
    evhtp_request_set_hook(req_, evhtp_hook_on_request_fini, as_hook(&Exchange::on_request_fini),
                           this);
    // libevhtp reports connection errors (e.g. a failed write) to the
    // current request's on_error hook, not to the connection's hook.
    evhtp_request_set_hook(req_, evhtp_hook_on_error, as_hook(&Exchange::on_request_error), this);
    timer_ = evtimer_new(w.base, &Exchange::on_timer, this);
    short what = static_cast<short>(EV_READ | EV_PERSIST | (w.early_close ? EV_CLOSED : 0));
    watch_ = event_new(w.base, bufferevent_getfd(conn_->bev), what, &Exchange::on_watch, this);
    event_add(watch_, nullptr);
    evhtp_request_pause(req_);
    paused_ = true;
    phase_ = Phase::waiting;
    // 0: on the next loop iteration, outside libevhtp's parser. A hangup
    // closes at once, whatever the delay.
    arm(plan_.hangup ? 0 : plan_.script.delay_ns);
}

void Exchange::arm(int64_t ns) {
    timeval tv = to_timeval(ns);
    evtimer_add(timer_, &tv);
}

void Exchange::on_timer(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    switch (self->phase_) {
        case Phase::waiting: self->begin(); break;
        case Phase::streaming: self->pump(); break;
        case Phase::holding: self->hold_tick(); break;
        case Phase::draining: self->reset_tick(); break;
        case Phase::done: break;
    }
}

void Exchange::on_watch(evutil_socket_t fd, short what, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    if ((what & EV_CLOSED) == 0) {
        char byte = 0;
        ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return;
        }
        if (n > 0) {
            // The client sent its next request early. Leave those bytes to
            // libevhtp and from now on only watch for the connection closing.
            Worker* w = self->worker_;
            self->stop_watch();
            if (w->early_close) {
                self->watch_ = event_new(w->base, fd, EV_CLOSED | EV_PERSIST,
                                         &Exchange::on_watch, self);
                event_add(self->watch_, nullptr);
            }
            return;
        }
    }
    self->client_gone();  // may free self
}

evhtp_res Exchange::on_request_fini(evhtp_request_t*, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    if (self->phase_ != Phase::done && self->phase_ != Phase::draining && self->enc_) {
        stats().streams_cancelled.fetch_add(1);
    }
    delete self;
    return EVHTP_RES_OK;
}

void Exchange::begin() {
    if (plan_.hangup) {
        hang_up();
        return;
    }
    Headers headers = plan_.headers;
    const Script& s = plan_.script;
    const Api api = plan_.reply.api;
    if (plan_.late) {
        LateAnswer a = plan_.late();
        headers.insert(headers.end(), a.headers.begin(), a.headers.end());
        finish_plain(a.status, std::move(headers), "application/json", a.body);
        return;
    }
    if (plan_.auth_failed) {
        std::string message = fmt::format(
            "mock: cred={} is not a live OAuth access token of this mock", plan_.credential);
        finish_plain(401, std::move(headers), "application/json",
                     error_body(api, 401, message, plan_.reply.seq));
        return;
    }
    if (plan_.error_status != 0) {
        add_error_hints(headers, s, api, plan_.error_status, realtime_ns());
        bool key_wide = plan_.error_status == 429 && s.quota_key;
        std::string message =
            fmt::format("mock error {} for cred={}", plan_.error_status, plan_.credential);
        finish_plain(plan_.error_status, std::move(headers), "application/json",
                     error_body(api, plan_.error_status, message, plan_.reply.seq, key_wide,
                                gemini_retry_delay_ns(s, api)));
        return;
    }
    add_remaining_headers(headers, s, api, realtime_ns());
    if (plan_.fixed_body) {
        finish_plain(200, std::move(headers), "application/json", *plan_.fixed_body);
        return;
    }
    if (!plan_.stream) {
        std::string text;
        if (plan_.pieces.empty()) {
            text = full_text(plan_.script, plan_.credential, plan_.reply.model);
        } else if (plan_.reply.calls.empty()) {
            for (const std::string& p : plan_.pieces) text += p;
        }
        std::string body = complete_body(plan_.reply, text);
        if (plan_.script.reset_after) {
            // Promise the whole body, deliver half of it, then reset.
            headers.emplace_back("Content-Type", "application/json");
            send_head(req_, 200, headers, body.size());
            send_bytes(req_, std::string_view(body).substr(0, body.size() / 2));
            start_reset();
            return;
        }
        finish_plain(200, std::move(headers), "application/json", body);
        return;
    }
    headers.emplace_back("Content-Type", stream_content_type(plan_.reply));
    headers.emplace_back("Cache-Control", "no-cache");
    if (plan_.script.both_lengths && req_->proto == EVHTP_PROTO_11) {
        // Beside Transfer-Encoding: chunked (RFC 9112 6.3: the chunked framing wins).
        headers.emplace_back("Content-Length", "1");
    }
    send_head(req_, 200, headers, std::nullopt);
    std::vector<std::string> events;
    enc_->open(events);
    for (const std::string& e : events) {
        send_chunk(req_, e);
    }
    phase_ = Phase::streaming;
    pump();
}

void Exchange::pump() {
    const Script& s = plan_.script;
    for (;;) {
        if (cut_kind_ != Cut::none && next_ == cut_at_) {
            cut();
            return;
        }
        if (next_ == 0 && s.first_hold_ns > 0 && !first_held_) {
            first_held_ = true;
            start_hold(s.first_hold_ns);
            return;
        }
        if (next_ == 1 && s.hold_ns > 0 && !held_) {
            held_ = true;
            start_hold(s.hold_ns);
            return;
        }
        if (next_ >= s.chunks) {
            std::vector<std::string> events;
            enc_->close(!s.noterm, events);
            end_stream(std::move(events));
            return;
        }
        if (next_ > 0 && s.pace_ns > 0 && !paced_) {
            // Pieces are due at fixed steps from the first one, so the
            // pace does not drift by the time spent writing.
            // A late piece still goes through the loop (wait 0) so one
            // stream never holds up the others.
            paced_ = true;
            due_ns_ += s.pace_ns;
            arm(std::max<int64_t>(0, due_ns_ - monotonic_ns()));
            return;
        }
        if (next_ > 0 && phase_ == Phase::streaming && timer_ != nullptr &&
            evbuffer_get_length(bufferevent_get_output(conn_->bev)) > kHighWater) {
            // The client is not reading: wait for the socket to drain, as a
            // server blocked in write() would.
            arm(kBackpressurePollNs);
            return;
        }
        paced_ = false;
        if (next_ == 0) {
            due_ns_ = monotonic_ns();
        }
        send_piece();
    }
}

void Exchange::send_piece() {
    const Script& s = plan_.script;
    bool final_piece = next_ == s.chunks - 1 && !s.noterm &&
                       !(cut_kind_ != Cut::none && cut_at_ == s.chunks);
    std::string text =
        plan_.pieces.empty()
            ? piece_text(s, next_, plan_.credential, plan_.reply.model, s.piece_size)
            : plan_.pieces[static_cast<std::size_t>(next_)];
    std::vector<std::string> events;
    enc_->piece(text, final_piece, events);
    for (const std::string& e : events) {
        send_chunk(req_, e);
    }
    ++next_;
}

void Exchange::start_hold(int64_t ns) {
    phase_ = Phase::holding;
    hold_end_ns_ = monotonic_ns() + ns;
    arm(std::min(kKeepAliveNs, ns));
}

void Exchange::hold_tick() {
    int64_t left = hold_end_ns_ - monotonic_ns();
    if (left <= 1000000) {  // within 1 ms of the end: timers are not exact
        phase_ = Phase::streaming;
        paced_ = true;  // the next piece goes out right after the hold
        due_ns_ = monotonic_ns();
        pump();
        return;
    }
    std::string ka = enc_->keepalive();
    if (!ka.empty()) {
        send_chunk(req_, ka);
    }
    arm(std::min(kKeepAliveNs, left));
}

void Exchange::cut() {
    if (cut_kind_ == Cut::reset) {
        start_reset();
        return;
    }
    std::vector<std::string> events;
    enc_->fail(fmt::format("mock mid-stream error after {} pieces for cred={}", cut_at_,
                           plan_.credential),
               events);
    end_stream(std::move(events));
}

void Exchange::end_stream(std::vector<std::string> events) {
    // libevhtp must see the resume before the last bytes are queued, so the
    // reply is completed (and keep-alive handled) once they are flushed.
    resume_if_paused();
    for (const std::string& e : events) {
        send_chunk(req_, e);
    }
    send_stream_end(req_);
    set_done();
}

void Exchange::finish_plain(int status, Headers headers, const char* content_type,
                            const std::string& body) {
    resume_if_paused();
    send_full(req_, status, headers, content_type, body);
    set_done();
}

void Exchange::set_done() {
    if (phase_ != Phase::draining && enc_) {
        stats().streams_completed.fetch_add(1);
    }
    phase_ = Phase::done;
    stop_watch();
    if (timer_ != nullptr) evtimer_del(timer_);
}

void Exchange::start_reset() {
    if (enc_) {
        stats().streams_completed.fetch_add(1);
    }
    phase_ = Phase::draining;
    reset_deadline_ns_ = monotonic_ns() + kResetDrainNs;
    arm(0);
}

void Exchange::reset_tick() {
    // Wait until the bytes written so far have reached the peer; a reset
    // drops whatever is still queued.
    bool drained = evbuffer_get_length(bufferevent_get_output(conn_->bev)) == 0;
    if (drained) {
        int unacked = 0;
        if (ioctl(bufferevent_getfd(conn_->bev), SIOCOUTQ, &unacked) == 0 && unacked > 0) {
            drained = false;
        }
    }
    if (drained || monotonic_ns() >= reset_deadline_ns_) {
        reset_now();
        return;
    }
    arm(kResetPollNs);
}

void Exchange::reset_now() {
    linger lg{};
    lg.l_onoff = 1;
    lg.l_linger = 0;
    setsockopt(bufferevent_getfd(conn_->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    evhtp_connection_free(conn_);  // closes the socket: RST. Frees this via on_request_fini.
}

void Exchange::hang_up() {
    // A plain close (FIN): SO_LINGER is left alone and the request has been
    // read whole, so no unread data turns the close into a reset.
    phase_ = Phase::done;
    evhtp_connection_free(conn_);  // frees this via on_request_fini
}

void Exchange::client_gone() {
    switch (phase_) {
        case Phase::done:
            return;
        case Phase::draining:
            reset_now();
            return;
        default:
            break;
    }
    if (enc_) {
        stats().streams_cancelled.fetch_add(1);
    }
    phase_ = Phase::done;
    evhtp_connection_free(conn_);  // frees this via on_request_fini
}

void Exchange::on_request_error(evhtp_request_t*, evhtp_error_flags, void* arg) {
    auto* self = static_cast<Exchange*>(arg);
    if (self->phase_ == Phase::done) {
        return;  // already resumed: libevhtp frees the connection itself
    }
    if (self->phase_ != Phase::draining && self->enc_) {
        stats().streams_cancelled.fetch_add(1);
    }
    self->phase_ = Phase::done;
    self->stop_watch();
    if (self->timer_ != nullptr) evtimer_del(self->timer_);
    // libevhtp defers freeing a paused connection until it is resumed.
    self->resume_if_paused();
}

void Exchange::resume_if_paused() {
    if (paused_) {
        paused_ = false;
        evhtp_request_resume(req_);
    }
}

void Exchange::stop_watch() {
    if (watch_ != nullptr) {
        event_free(watch_);
        watch_ = nullptr;
    }
}

}  // namespace mock
