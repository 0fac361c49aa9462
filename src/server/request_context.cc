#include "server/request_context.h"

#include <evhtp.h>
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>
#include <time.h>

#include "clients/client_state.h"
#include "common/log.h"
#include "common/redact.h"
#include "dispatch/exchange.h"
#include "server/client_connection.h"
#include "server/runtime.h"
#include "server/snapshot.h"
#include "server/upload_stream.h"
#include "server/worker.h"
#include "translate/json_util.h"

namespace agd {

int64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {

evbuffer* output_of(evhtp_request* req) {
    evhtp_connection_t* c = evhtp_request_get_connection(req);
    return (c && c->bev) ? bufferevent_get_output(c->bev) : nullptr;
}

// evhtp_request_set_keepalive(req, 0) is a no-op in libevhtp 1.2.18: clear the flag.
void close_after(evhtp_request* req) { req->flags &= static_cast<uint16_t>(~EVHTP_REQ_FLAG_KEEPALIVE); }

}  // namespace

RequestContext::RequestContext(evhtp_request* r, Worker& w, std::shared_ptr<const Snapshot> s)
    : req(r), worker(w), snap(std::move(s)) {
    start_ns = mono_ns();
    id = worker.next_request_id();
    worker.runtime().counters().in_flight.fetch_add(1, std::memory_order_relaxed);
    worker.runtime().counters().unanswered.fetch_add(1, std::memory_order_relaxed);
}

RequestContext::RequestContext(ResponseSink& sink, const HeaderList& headers, Worker& w,
                               std::shared_ptr<const Snapshot> s)
    : req(nullptr), worker(w), snap(std::move(s)), sink_(&sink), sink_headers_(&headers) {
    start_ns = mono_ns();
    id = worker.next_request_id();
    body_complete = true;
    worker.runtime().counters().in_flight.fetch_add(1, std::memory_order_relaxed);
    worker.runtime().counters().unanswered.fetch_add(1, std::memory_order_relaxed);
}

RequestContext::~RequestContext() {
    exchange.reset();  // cancels any upstream transfer still running
    if (drain_entry_ && req) {
        if (evbuffer* out = output_of(req)) evbuffer_remove_cb_entry(out, drain_entry_);
        drain_entry_ = nullptr;
    }
    if (drained_ev_) event_free(drained_ev_);
    if (flush_ev_) event_free(flush_ev_);
    if (resume_ev_) event_free(resume_ev_);
    if (take_ev_) event_free(take_ev_);
    if (!logged_) {
        if (access.status == 0) access.status = 499;  // the client went away before any answer
        complete();
    }
    worker.runtime().counters().in_flight.fetch_sub(1, std::memory_order_relaxed);
}

std::string_view RequestContext::header(const char* name) const {
    std::string_view v;
    return header_values(name, &v, 1) ? v : std::string_view();
}

size_t RequestContext::header_values(const char* name, std::string_view* out, size_t max) const {
    size_t n = 0;
    if (!req) {
        for (const auto& [k, v] : *sink_headers_) {
            if (n == max) break;
            if (strcasecmp(k.c_str(), name) == 0) out[n++] = v;
        }
        return n;
    }
    // The length first: most fields are told apart without a strcasecmp.
    size_t len = strlen(name);
    evhtp_header_t* kv;
    TAILQ_FOREACH(kv, req->headers_in, next) {
        if (n == max) break;
        if (kv->klen != len || kv->key == nullptr || strncasecmp(kv->key, name, len) != 0) continue;
        out[n++] = kv->val ? std::string_view(kv->val, kv->vlen) : std::string_view();
    }
    return n;
}

void RequestContext::add_response_header(std::string_view name, std::string_view value) {
    if (!req) {
        response_headers_.emplace_back(std::string(name), std::string(value));
        return;
    }
    std::string k(name), v(value);
    evhtp_headers_add_header(req->headers_out, evhtp_header_new(k.c_str(), v.c_str(), 1, 1));
}

void RequestContext::fail(ErrorKind kind, std::string_view message, int retry_after_s) {
    ErrorReply r = error_reply(route.surface, kind, message);
    if (retry_after_s >= 0) add_response_header("Retry-After", std::to_string(retry_after_s));
    if (access.error.empty()) access.error = std::string(message);
    reply(r.status, std::move(r.body));
}

void RequestContext::reply(int status, std::string body, const char* content_type) {
    if (reply_state_ != ReplyState::None) return;  // the first answer wins
    if (!body_complete) {
        reply_state_ = ReplyState::Pending;
        pending_status_ = status;
        pending_body_ = std::move(body);
        pending_type_ = content_type;
        if (upload) upload->discard();  // the rest of the body is read and dropped
        return;
    }
    send_now(status, std::move(body), content_type);
}

void RequestContext::reply_before_body() {
    if (reply_state_ != ReplyState::Pending || !req) return;
    close_after(req);  // the body (if the client sends it anyway) is not read
    body_complete = true;
    flush_pending_reply();
}

void RequestContext::flush_pending_reply() {
    if (reply_state_ != ReplyState::Pending) return;
    reply_state_ = ReplyState::None;
    send_now(pending_status_, std::move(pending_body_), pending_type_);
}

namespace {

// The answer's bytes are kept as they go when its status already says the
// bodies will be (an error found later, mid-stream, is kept only by `all`).
bool keep_answer(const config::LogConfig& l, int status) {
    return record::keeps_bodies(l.bodies, status, false);
}

void capture(AccessRecord& a, size_t max, const char* data, size_t len) {
    size_t room = max > a.body.size() ? max - a.body.size() : 0;
    a.body.append(data, std::min(room, len));
    if (len > room) a.body_truncated = true;
}

}  // namespace

void RequestContext::send_now(int status, std::string body, const char* content_type) {
    reply_state_ = ReplyState::Sent;
    if (keep_answer(snap->config->log, status))
        capture(access, static_cast<size_t>(snap->config->log.body_max), body.data(), body.size());
    if (sink_) {
        access.status = status;
        access.bytes_out += body.size();
        access.first_byte_ns = mono_ns();
        complete();
        sink_->sink_whole(status, body, content_type);
        finish_paused();
        return;
    }
    add_response_header("Content-Type", content_type);
    evbuffer_add(req->buffer_out, body.data(), body.size());
    if (worker.runtime().draining.load(std::memory_order_relaxed) || status == 413) close_after(req);
    access.status = status;
    access.bytes_out += body.size();
    access.first_byte_ns = mono_ns();
    hold_output();
    evhtp_send_reply(req, static_cast<evhtp_res>(status));
    complete();  // before the client can see the answer (and send its next request)
    flush_output();
    finish_paused();
}

void RequestContext::start_response(int status, int64_t content_length) {
    reply_state_ = ReplyState::Streaming;
    access.status = status;
    access.keep_body = keep_answer(snap->config->log, status);
    if (sink_) {
        sink_->sink_start(status);
        return;
    }
    hold_output();
    schedule_flush();
    if (worker.runtime().draining.load(std::memory_order_relaxed)) close_after(req);
    if (content_length >= 0) {
        add_response_header("Content-Length", std::to_string(content_length));
        chunked_ = false;
        evhtp_send_reply_start(req, static_cast<evhtp_res>(status));
    } else if (evhtp_request_get_proto(req) == EVHTP_PROTO_10) {
        // HTTP/1.0 has no chunked encoding: the end of the body is the end
        // of the connection.
        close_after(req);
        chunked_ = false;
        evhtp_send_reply_start(req, static_cast<evhtp_res>(status));
    } else {
        evhtp_send_reply_chunk_start(req, static_cast<evhtp_res>(status));
        chunked_ = (req->flags & EVHTP_REQ_FLAG_CHUNKED) != 0;
    }
}

void RequestContext::write_body(const char* data, size_t len) {
    if (len == 0 || reply_state_ != ReplyState::Streaming) return;
    evbuffer* out = sink_ ? nullptr : output_of(req);
    if (!out && !sink_) return;
    if (access.first_byte_ns == 0) access.first_byte_ns = mono_ns();
    access.bytes_out += len;
    if (access.keep_body) capture(access, static_cast<size_t>(snap->config->log.body_max), data, len);
    if (sink_) return sink_->sink_write(data, len);
    hold_output();
    schedule_flush();
    if (chunked_) {
        char head[24];
        int n = snprintf(head, sizeof head, "%zx\r\n", len);
        evbuffer_add(out, head, static_cast<size_t>(n));
        evbuffer_add(out, data, len);
        evbuffer_add(out, "\r\n", 2);
    } else {
        evbuffer_add(out, data, len);
    }
}

void RequestContext::end_response() {
    if (reply_state_ != ReplyState::Streaming) return;
    reply_state_ = ReplyState::Done;
    if (sink_) {
        complete();
        sink_->sink_end();
        finish_paused();
        return;
    }
    hold_output();
    if (chunked_) {
        if (evbuffer* out = output_of(req)) evbuffer_add(out, "0\r\n\r\n", 5);
    }
    evhtp_send_reply_end(req);
    complete();  // before the client can see the answer (and send its next request)
    flush_output();
    finish_paused();
}

void RequestContext::abort_connection() {
    reply_state_ = ReplyState::Done;
    complete();
    if (sink_) {
        sink_->sink_abort();
        finish_paused();
        return;
    }
    // Close only once what was already queued reached the client, so it sees
    // a truncated answer rather than none at all.
    aborting_ = true;
    if (output_pending() == 0) return close_connection();
    watch_output();
}

void RequestContext::take_connection(int status, Taker take) {
    if (!req || reply_state_ != ReplyState::None) return;
    reply_state_ = ReplyState::Done;
    access.status = status;
    access.first_byte_ns = mono_ns();
    take_ = std::move(take);
    if (!take_ev_) take_ev_ = event_new(worker.base(), -1, 0, &RequestContext::take_cb, this);
    event_active(take_ev_, 0, 0);
}

void RequestContext::take_cb(int, short, void* arg) { static_cast<RequestContext*>(arg)->hand_over(); }

void RequestContext::hand_over() {
    evhtp_connection_t* c = evhtp_request_get_connection(req);
    auto take = std::move(take_);
    complete();
    if (client_gone || !c || !c->bev || !take) return;
    // From here libevhtp reads nothing more: what the client sent after
    // the request goes to the taker with the connection.
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    ClientConnection* cc = ClientConnection::of(c);
    bufferevent* bev = nullptr;
    if (c->ssl) {
        // The TLS session lives in the bufferevent: it leaves libevhtp's
        // connection, which then frees nothing of it (its socket included).
        close_connection();
        if (cc) cc->release_bufferevent();
        bev = c->bev;
        c->bev = nullptr;
        c->ssl = nullptr;
        bufferevent_setcb(bev, nullptr, nullptr, nullptr, nullptr);
        bufferevent_set_timeouts(bev, nullptr, nullptr);
        bufferevent_setwatermark(bev, EV_READ | EV_WRITE, 0, 0);
    } else {
        int fd = fcntl(c->sock, F_DUPFD_CLOEXEC, 0);
        if (fd >= 0) {
            bev = bufferevent_socket_new(worker.base(), fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
            if (!bev) close(fd);
        }
    }
    evbuffer* unread = bev ? evbuffer_new() : nullptr;
    if (unread) {
        evbuffer_add_buffer(unread, c->bev ? bufferevent_get_input(c->bev) : bufferevent_get_input(bev));
        take(bev, unread, cc && cc->hand_over_peer());
        evbuffer_free(unread);
    } else if (bev) {
        bufferevent_free(bev);
    }
    if (c->bev) close_connection();
}

void RequestContext::close_connection() {
    if (!req) return;
    evhtp_connection_t* c = evhtp_request_get_connection(req);
    // Freed by libevhtp on its next turn (never under our own feet).
    c->flags |= EVHTP_CONN_FLAG_FREE_CONN;
    if (!paused_) evhtp_connection_pause(c);
    paused_ = false;
    evhtp_connection_resume(c);
}

void RequestContext::hold_output() {
    if (!req) return;
    evhtp_connection_t* c = evhtp_request_get_connection(req);
    if (!c || !c->bev) return;
    // Write interest is registered only while bytes wait for the socket
    // (flush_output); with the buffer empty it is not, so this costs nothing.
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 && (bufferevent_get_enabled(c->bev) & EV_WRITE))
        bufferevent_disable(c->bev, EV_WRITE);
}

void RequestContext::schedule_flush() {
    if (!flush_ev_) flush_ev_ = evtimer_new(worker.base(), &RequestContext::flush_cb, this);
    // A zero timer, not an activation: it runs after the loop's next poll,
    // behind every upstream read that poll reports, so a burst of pieces
    // leaves in as few writes as the bufferevent would make.
    if (!evtimer_pending(flush_ev_, nullptr)) {
        timeval now{0, 0};
        evtimer_add(flush_ev_, &now);
    }
}

void RequestContext::flush_cb(int, short, void* arg) { static_cast<RequestContext*>(arg)->flush_output(); }

// Writes to the socket itself on plain TCP and unix listeners; on an `ssl`
// listener the OpenSSL bufferevent encrypts and writes when its writing is
// on (one loop turn later), and runs the write callbacks as usual.
void RequestContext::flush_output() {
    if (!req) return;
    evhtp_connection_t* c = evhtp_request_get_connection(req);
    if (!c || !c->bev) return;
    bufferevent* bev = c->bev;
    if (flush_ev_) evtimer_del(flush_ev_);  // this flush takes what a scheduled one would
    if (bufferevent_get_enabled(bev) & EV_WRITE) return;  // libevent is writing what was left
    if (c->ssl) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) > 0) bufferevent_enable(bev, EV_WRITE);
        else bufferevent_trigger(bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
        return;
    }
    evbuffer* out = bufferevent_get_output(bev);
    if (evbuffer_get_length(out) > 0) {
        // The bufferevent keeps the front of its output frozen against
        // draining; it thaws it the same way around its own writes.
        evbuffer_unfreeze(out, 1);
        evbuffer_write(out, c->sock);
        evbuffer_freeze(out, 1);
    }
    if (evbuffer_get_length(out) > 0) {
        // The socket took part of it (or failed): libevent writes the rest
        // when it can, or reports the error to libevhtp, then runs the write
        // callbacks as usual.
        bufferevent_enable(bev, EV_WRITE);
        return;
    }
    // All sent: what the bufferevent does after a write that empties its
    // buffer (libevhtp finishes a complete request there), from the loop.
    bufferevent_trigger(bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

size_t RequestContext::output_pending() const {
    if (sink_) return sink_->sink_pending();
    evbuffer* out = output_of(req);
    return out ? evbuffer_get_length(out) : 0;
}

void RequestContext::watch_drain(size_t low) {
    drain_low_ = low;
    if (sink_) return sink_->sink_watch_drain(low);
    watch_output();
}

void RequestContext::on_drained() {
    drain_low_ = 0;
    if (exchange) exchange->on_client_drained();
}

void RequestContext::watch_output() {
    if (drain_entry_ || !req) return;
    if (evbuffer* out = output_of(req)) drain_entry_ = evbuffer_add_cb(out, &RequestContext::drain_cb, this);
}

void RequestContext::drain_cb(evbuffer* buf, const evbuffer_cb_info* info, void* arg) {
    auto* self = static_cast<RequestContext*>(arg);
    if (info->n_deleted == 0) return;
    if (self->aborting_) {
        if (evbuffer_get_length(buf) != 0) return;
    } else {
        if (self->drain_low_ == 0 || evbuffer_get_length(buf) > self->drain_low_) return;
        self->drain_low_ = 0;
    }
    // Resume from a fresh loop turn, not from inside libevent's write path.
    if (!self->drained_ev_) self->drained_ev_ = event_new(self->worker.base(), -1, 0, &RequestContext::drained_cb, self);
    event_active(self->drained_ev_, 0, 0);
}

void RequestContext::drained_cb(int, short, void* arg) {
    auto* self = static_cast<RequestContext*>(arg);
    if (self->aborting_) return self->close_connection();
    self->on_drained();
}

void RequestContext::pause() {
    if (paused_) return;
    paused_ = true;
    if (!req) return;
    // What evhtp_request_pause does, except that the client's read side
    // stays enabled: no epoll_ctl on every request, a client that hangs up
    // is seen at once (libevhtp's error hook, on_error in server.cc), and
    // whatever it pipelines meanwhile waits unparsed in the input buffer
    // (kMaxUnparsedInput, set at accept) until finish_paused(). libevhtp's
    // read callback sees the PAUSED flag and parses nothing more. The read
    // timeout is off meanwhile: waiting on the upstream is not an idle client.
    req->status = EVHTP_RES_PAUSE;
    evhtp_connection_t* c = evhtp_request_get_connection(req);
    c->flags |= EVHTP_CONN_FLAG_PAUSED;
    timeval stalled{kClientStalledSeconds, 0};
    bufferevent_set_timeouts(c->bev, nullptr, &stalled);
}

void RequestContext::upload_progress() {
    if (exchange) exchange->on_upload_progress();
}

void RequestContext::refuse_upload(std::string_view message) {
    if (exchange) exchange->cancel();
    fail(ErrorKind::BadRequest, message);
}

void RequestContext::on_client_gone() {
    if (client_gone) return;
    client_gone = true;
    if (access.error.empty()) access.error = reply_state_ == ReplyState::Streaming ? "client closed mid-response" : "client closed";
    if (exchange) exchange->cancel();
    if (reply_state_ != ReplyState::Streaming && reply_state_ != ReplyState::Done && access.status == 0) access.status = 499;
    complete();
}

void RequestContext::finish_paused() {
    if (!paused_) return;
    if (sink_) {
        paused_ = false;
        sink_->sink_finished();
        return;
    }
    if (in_parser) {
        resume_pending_ = true;
        return;
    }
    resume_connection();
}

void RequestContext::resume_after_parse() {
    if (!resume_pending_) return;
    resume_pending_ = false;
    // Sending the answer set the request's status to the HTTP status; the
    // read callback the parser returns to must still see the request paused.
    req->status = EVHTP_RES_PAUSE;
    if (!resume_ev_) resume_ev_ = event_new(worker.base(), -1, 0, &RequestContext::resume_cb, this);
    event_active(resume_ev_, 0, 0);
}

void RequestContext::resume_cb(int, short, void* arg) { static_cast<RequestContext*>(arg)->resume_connection(); }

void RequestContext::resume_connection() {
    if (!paused_ || !req) return;
    paused_ = false;
    evhtp_connection_t* c = evhtp_request_get_connection(req);
    timeval idle{kClientIdleSeconds, 0}, stalled{kClientStalledSeconds, 0};
    bufferevent_set_timeouts(c->bev, &idle, &stalled);
    if (req->flags & EVHTP_REQ_FLAG_KEEPALIVE) {
        // libevhtp parses what the client pipelined once the answer is out;
        // it is checked first (and this is freed if it is refused).
        ClientConnection* cc = ClientConnection::of(c);
        if (cc && !cc->check_input()) {
            evhtp_connection_free(c);
            return;
        }
        evhtp_request_resume(req);
        return;
    }
    // The connection ends with this answer: nothing after it is parsed.
    // libevhtp's write callback closes it once the answer is out (the
    // flush that sent it has scheduled that callback, or the bufferevent
    // runs it when the rest is written).
    c->flags &= static_cast<uint16_t>(~EVHTP_CONN_FLAG_PAUSED);
    req->status = EVHTP_RES_OK;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}


void RequestContext::complete() {
    if (logged_) return;
    logged_ = true;
    Runtime& rt = worker.runtime();
    rt.counters().requests_served.fetch_add(1, std::memory_order_relaxed);
    rt.counters().unanswered.fetch_sub(1, std::memory_order_relaxed);
    clients::ClientState* state = admitted;
    if (admitted) {
        admitted->release();
        admitted = nullptr;
    }
    const record::Hook& hook = rt.hook();
    const config::Config& cfg = *snap->config;
    if (!hook.wanted(cfg)) return;
    int64_t now = mono_ns();
    timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    record::RequestRecord rec;
    rec.id = id;
    rec.total_us = (now - start_ns) / 1000;
    rec.unix_ms = static_cast<int64_t>(wall.tv_sec) * 1000 + wall.tv_nsec / 1'000'000 - rec.total_us / 1000;
    rec.generation = snap->generation;
    rec.worker = worker.index();
    rec.client = client_index;
    if (client_index >= 0) rec.client_name = cfg.clients[static_cast<size_t>(client_index)].name;
    rec.addr = client_text;
    rec.method = method_text;
    rec.path = path;
    rec.op = route.op;
    rec.protocol = route.protocol;
    rec.upstream = is_upstream_operation(route.op);
    rec.stream = route.op == Operation::StreamGenerateContent || body.stream;
    rec.model = body.has_model ? body.model : route.model;
    rec.model_sent = std::move(access.model_sent);
    rec.provider = access.provider_index;
    rec.provider_name = std::move(access.provider);
    rec.credential = std::move(access.credential);
    rec.attempts = std::move(access.attempt_log);
    rec.status = access.status;
    rec.upstream_status = access.upstream_status;
    rec.error = std::move(access.error);
    rec.limit = std::move(access.limit);
    rec.usage = access.usage;
    rec.usage_state = access.usage_state;
    if (access.first_byte_ns) rec.ttfb_us = (access.first_byte_ns - start_ns) / 1000;
    if (access.first_token_ns)
        rec.ttft_us = (access.first_token_ns - start_ns) / 1000;
    else if (!rec.stream && access.usage_state != record::UsageState::None)
        rec.ttft_us = rec.ttfb_us;  // a whole answer: its tokens came with its first byte
    rec.bytes_in = body_received;
    rec.bytes_out = access.bytes_out;
    if (record::keeps_bodies(cfg.log.bodies, rec.status, !rec.error.empty())) {
        size_t max = static_cast<size_t>(cfg.log.body_max);
        if (body_data) {
            rec.request_body.assign(body_data, std::min(body_len, max));
            rec.request_truncated = body_len > max;
        }
        rec.response_body = std::move(access.body);
        rec.response_truncated = access.body_truncated;
        // An upstream may quote a key back (an error naming the key it
        // refused): no key is ever kept.
        auto redact = [&](const std::string& k) {
            redact_secret(rec.response_body, k, rec.response_truncated);
            redact_secret(rec.request_body, k, rec.request_truncated);
        };
        for (const auto& p : cfg.providers)
            for (const auto& k : p.keys) redact(k);
        for (const auto& c : cfg.clients)
            for (const auto& k : c.keys) redact(k);
    }
    rec.config = &cfg;
    rec.client_state = state;
    hook.complete(rec);
}

}  // namespace agd
