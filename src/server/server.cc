#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <evhtp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "server/client_connection.h"
#include "server/framing.h"
#include "server/listener_tls.h"
#include "server/listen_socket.h"
#include "server/request_context.h"
#include "pipeline/multipart.h"
#include "server/runtime.h"
#include "server/snapshot.h"
#include "server/socket_activation.h"
#include "server/upload_stream.h"
#include "server/worker.h"

namespace agd {

// One event-loop thread with its own libevhtp instance. Every worker
// accepts on every listening socket (a dup of it): the kernel wakes the
// workers and whichever is free takes the connection, which then lives on
// that worker to the end. No cross-thread hand-off can fail under load.
// The `ssl` listeners have a libevhtp instance of their own (htp_tls): it
// wraps each connection it accepts in an OpenSSL bufferevent; both share
// every hook.
struct WorkerSlot {
    unsigned index = 0;
    std::thread thread;
    event_base* base = nullptr;
    evhtp_t* htp = nullptr;
    evhtp_t* htp_tls = nullptr;  // only with an `ssl` listener
    // The context htp_tls->ssl_ctx points to, held: the snapshot's at the
    // last accept (a reload's new certificate serves the next one).
    std::shared_ptr<const ListenerTls> tls;
    event* stop_accepting = nullptr;  // activated by the main thread
    Worker* worker = nullptr;         // set before the thread reports it started; freed after its loop
    std::vector<evconnlistener*> listeners;
    // accept() failing (out of descriptors): listening pauses, then retries.
    event* accept_retry = nullptr;
    uint64_t accept_failures = 0;     // since the last report
    int64_t accept_reported_ns = 0;
};

struct Listening {
    int fd;
    bool tls;          // an `ssl` listener
    std::string name;  // for a successor (handover_name), or systemd's
};

struct Server::Impl {
    Runtime& runtime;
    std::vector<Listening> listening;
    std::vector<std::string> unix_paths;
    std::vector<std::unique_ptr<WorkerSlot>> slots;

    std::mutex mu;
    std::condition_variable cv;
    unsigned started = 0;
    std::string start_error;

    explicit Impl(Runtime& r) : runtime(r) {}
};

namespace {

using Impl = Server::Impl;

HttpMethod method_of(htp_method m) {
    switch (m) {
        case htp_method_GET: return HttpMethod::Get;
        case htp_method_POST: return HttpMethod::Post;
        case htp_method_HEAD: return HttpMethod::Head;
        default: return HttpMethod::Other;
    }
}

// libevhtp stores every hook as a generic function pointer; going through
// void(*)() is the conversion GCC accepts without a cast-function-type warning.
template <class F>
evhtp_hook as_hook(F* f) {
    return reinterpret_cast<evhtp_hook>(reinterpret_cast<void (*)()>(f));
}

RequestContext* ctx_of(void* arg) { return static_cast<RequestContext*>(arg); }

// The body-phase stages (body scan, limits, dispatch): one of them answers
// or pauses the request.
void run_body_phase(RequestContext* ctx) {
    StageResult r = ctx->snap->chain.run(Phase::Body, *ctx);
    if (r == StageResult::Continue) ctx->fail(ErrorKind::Internal, "no stage answered the request");
}

// A streamed upload's switch (UploadStream::ReadSwitch): reading from the
// client stops while the upstream is behind, and goes on when it catches up.
void switch_reading(void* arg, bool on) {
    RequestContext* ctx = ctx_of(arg);
    if (ctx->client_gone || !ctx->req) return;
    evhtp_connection_t* conn = evhtp_request_get_connection(ctx->req);
    if (!conn || !conn->bev) return;
    if (on) bufferevent_enable(conn->bev, EV_READ);
    else bufferevent_disable(conn->bev, EV_READ);
    if (ClientConnection* cc = ClientConnection::of(conn)) cc->hold_body(!on);
}

// An audio upload longer than server.upload_buffer_size, with a length
// the head declares, goes upstream as it arrives (server/upload_stream.h).
// (Image edits are read whole: a Gemini provider gets them translated.)
void open_upload(RequestContext* ctx, uint64_t length) {
    const config::ServerConfig& s = ctx->snap->config->server;
    if (s.upload_buffer_size == 0 || length <= s.upload_buffer_size) return;
    if (ctx->route.op != Operation::AudioTranscriptions && ctx->route.op != Operation::AudioTranslations) return;
    if (!ctx->header("transfer-encoding").empty()) return;
    std::string_view type = ctx->header("content-type");
    if (!is_multipart_form(type)) return;
    auto up = UploadStream::open(type, length, static_cast<size_t>(s.upload_buffer_size), &switch_reading, ctx);
    if (!up) return ctx->fail(ErrorKind::BadRequest, up.error().message);
    ctx->upload = std::move(up.value());
}

// The next bytes of a streamed upload: checked, routed once the model is
// known, handed to the upstream transfer.
void feed_upload(RequestContext* ctx, evbuffer* buf) {
    size_t len = evbuffer_get_length(buf);
    // One read's bytes, in one chunk of libevhtp's scratch buffer.
    const char* data = reinterpret_cast<const char*>(evbuffer_pullup(buf, -1));
    Status st = ctx->upload->take(data, len);
    evbuffer_drain(buf, len);
    if (!st) return ctx->refuse_upload(st.error().message);
    if (ctx->exchange) return ctx->upload_progress();
    if (ctx->upload->model_known()) {
        run_body_phase(ctx);
    }
}

evhtp_res on_read(evhtp_request_t* req, evbuffer* buf, void* arg) {
    RequestContext* ctx = ctx_of(arg);
    size_t len = evbuffer_get_length(buf);
    if (ClientConnection* cc = ClientConnection::of(req->conn)) cc->body_read(len);
    ctx->body_received += len;
    if (!ctx->has_reply() && ctx->body_received > ctx->snap->config->server.max_body_size) {
        ctx->fail(ErrorKind::TooLarge, "request body exceeds server.max_body_size (" +
                                           std::to_string(ctx->snap->config->server.max_body_size) + " bytes)");
        evbuffer_drain(req->buffer_in, evbuffer_get_length(req->buffer_in));
    }
    // A refused request's body is read and dropped, never kept in memory.
    if (ctx->has_reply()) evbuffer_drain(buf, len);
    else if (ctx->upload) feed_upload(ctx, buf);
    return EVHTP_RES_OK;
}

evhtp_res on_fini(evhtp_request_t* req, void* arg) {
    evhtp_request_unset_hook(req, evhtp_hook_on_request_fini);  // libevhtp may run fini twice
    evhtp_request_unset_hook(req, evhtp_hook_on_error);
    evhtp_request_unset_hook(req, evhtp_hook_on_read);
    if (ClientConnection* cc = ClientConnection::of(req->conn)) cc->request_done();
    delete ctx_of(arg);
    return EVHTP_RES_OK;
}

void on_error(evhtp_request_t* req, evhtp_error_flags, void* arg) {
    RequestContext* ctx = ctx_of(arg);
    ctx->on_client_gone();
    // While paused libevhtp waits for a resume before it frees the connection.
    if (ctx->paused()) evhtp_connection_resume(evhtp_request_get_connection(req));
}

// The request line is parsed: header lines follow.
evhtp_res on_headers_start(evhtp_request_t*, void* arg) {
    static_cast<ClientConnection*>(arg)->head_lines_started();
    return EVHTP_RES_OK;
}

// One header field line is parsed: bounds the head's size.
evhtp_res on_header(evhtp_request_t*, evhtp_header_t* h, void* arg) {
    return static_cast<ClientConnection*>(arg)->header_field(h->klen, h->vlen) ? EVHTP_RES_OK : EVHTP_RES_ERROR;
}

// RFC 9112's framing rules over every header line (framing.h): true when
// the head may be served.
bool framing_ok(RequestContext& ctx, evhtp_request_t* req) {
    FramingCheck check;
    evhtp_header_t* h;
    TAILQ_FOREACH(h, req->headers_in, next) {
        check.add(std::string_view(h->key, h->klen), std::string_view(h->val ? h->val : "", h->val ? h->vlen : 0));
    }
    FramingVerdict v = check.verdict(evhtp_request_get_proto(req) == EVHTP_PROTO_10);
    if (v.ok) return true;
    ctx.fail(v.kind, v.message);
    return false;
}

evhtp_res on_headers(evhtp_request_t* req, evhtp_headers_t*, void* arg) {
    auto* cc = static_cast<ClientConnection*>(arg);
    Worker* worker = Worker::current();
    if (!worker) return EVHTP_RES_SERVERR;
    evhtp_proto proto = evhtp_request_get_proto(req);
    if (proto != EVHTP_PROTO_10 && proto != EVHTP_PROTO_11) {
        // HTTP/0.9 (a request line without a version, such as a line
        // broken by a CR LF inside its path) or an unknown version.
        cc->refuse(ErrorKind::BadRequest, "malformed request: HTTP/1.0 or HTTP/1.1 request line expected");
        return EVHTP_RES_ERROR;
    }
    auto* ctx = new RequestContext(req, *worker, worker->runtime().snapshot());
    req->cbarg = ctx;
    evhtp_request_set_hook(req, evhtp_hook_on_read, as_hook(&on_read), ctx);
    evhtp_request_set_hook(req, evhtp_hook_on_request_fini, as_hook(&on_fini), ctx);
    evhtp_request_set_hook(req, evhtp_hook_on_error, as_hook(&on_error), ctx);

    htp_method m = evhtp_request_get_method(req);
    ctx->method = method_of(m);
    const char* ms = htparser_get_methodstr_m(m);
    ctx->method_text = ms ? ms : "?";
    if (req->uri && req->uri->path && req->uri->path->full) ctx->path = req->uri->path->full;
    else ctx->path = "/";
    if (req->uri && req->uri->query_raw) ctx->query = reinterpret_cast<const char*>(req->uri->query_raw);
    // Without a query, libevhtp would copy and parse a form-urlencoded body
    // (curl -d's default type) as the query: give it an empty one instead.
    if (req->uri && !req->uri->query) req->uri->query = evhtp_parse_query_wflags("", 0, 0);
    ctx->route = classify(ctx->method, ctx->path, ctx->query, !ctx->header("anthropic-version").empty());

    evhtp_connection_t* conn = evhtp_request_get_connection(req);
    if (auto ip = ip_from_sockaddr(conn->saddr)) {
        ctx->peer_is_ip = true;
        ctx->peer = *ip;
        ctx->client = *ip;
    }

    // A head whose body length is ambiguous is answered at once and the
    // connection closed: its body cannot be told from a next request.
    if (!framing_ok(*ctx, req)) {
        if (ctx->client_text.empty()) ctx->client_text = ctx->peer_is_ip ? ctx->peer.str() : "unix";
        cc->linger();
        cc->head_done(false);
        ctx->reply_before_body();
        return EVHTP_RES_OK;
    }

    uint64_t max_body = ctx->snap->config->server.max_body_size;
    std::string_view cl = ctx->header("content-length");
    uint64_t length = cl.empty() ? 0 : std::strtoull(std::string(cl).c_str(), nullptr, 10);
    if (length > max_body) {
        ctx->fail(ErrorKind::TooLarge, "request body of " + std::string(cl) + " bytes exceeds server.max_body_size (" +
                                           std::to_string(max_body) + " bytes)");
    }
    cc->head_done(length > 0 || !ctx->header("transfer-encoding").empty());
    if (!ctx->has_reply()) ctx->snap->chain.run(Phase::Headers, *ctx);
    if (!ctx->has_reply()) open_upload(ctx, length);
    if (ctx->client_text.empty()) ctx->client_text = ctx->peer_is_ip ? ctx->peer.str() : "unix";

    // We answer 100-continue ourselves: "go on" for requests we will read, the
    // final answer at once for requests refused on their head alone.
    std::string_view expect = ctx->header("expect");
    if (expect.size() == 12 && strncasecmp(expect.data(), "100-continue", 12) == 0 &&
        evhtp_request_get_proto(req) == EVHTP_PROTO_11) {
        if (ctx->has_reply()) {
            cc->linger();
            ctx->reply_before_body();
        } else {
            bufferevent_write(conn->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            bufferevent_enable(conn->bev, EV_WRITE);  // may be off (RequestContext::flush_output)
        }
    }
    return EVHTP_RES_OK;
}

// A streamed upload's body has ended: its scan's last word, then the
// upstream gets the last bytes (or, if the model never came, the Body
// phase says what is missing).
void end_upload(RequestContext* ctx) {
    Status st = ctx->upload->finish();
    if (!st) return ctx->refuse_upload(st.error().message);
    if (ctx->exchange) return ctx->upload_progress();
    run_body_phase(ctx);
}

void serve(RequestContext* ctx, evhtp_request_t* req) {
    if (ctx->has_reply()) {
        ctx->flush_pending_reply();
        return;
    }
    if (ctx->upload) return end_upload(ctx);
    size_t len = evbuffer_get_length(req->buffer_in);
    evbuffer_add(req->buffer_in, "", 1);  // NUL-terminate for the JSON scanner
    ctx->body_data = reinterpret_cast<const char*>(evbuffer_pullup(req->buffer_in, -1));
    ctx->body_len = len;
    run_body_phase(ctx);
}

// libevhtp's parser calls this with a request complete, then returns to its
// read callback, which cannot go on to bytes pipelined behind the request
// unless the connection is paused (it only logs an "ODDITY" otherwise, and
// the next request waits for the client's next write). So every request is
// paused here, whatever serves it (a proxied one would be anyway), and its
// answer resumes the connection from the loop once the parser has returned.
// Reading stays on meanwhile (RequestContext::pause): no system call.
void on_request(evhtp_request_t* req, void*) {
    evhtp_connection_t* conn = evhtp_request_get_connection(req);
    ClientConnection* cc = ClientConnection::of(conn);
    // The callback's argument is the request's context only once on_headers
    // ran; the parser completes an HTTP/0.9 request line ("GET /x", no
    // version, no header section) without it. Such a request is refused:
    // the PAUSED flag makes libevhtp's parser stop with an error and free
    // the connection, and finish() answers 400.
    RequestContext* ctx = ClientConnection::context_of(req);
    if (!ctx) {
        if (cc) cc->refuse(ErrorKind::BadRequest, "malformed request: HTTP/1.0 or HTTP/1.1 request line expected");
        conn->flags |= EVHTP_CONN_FLAG_PAUSED;
        return;
    }
    ctx->body_complete = true;
    if (cc) cc->body_done();
    ctx->pause();
    ctx->in_parser = true;
    if (ctx->answer_started()) ctx->finish_paused();  // answered on its head, and closing
    else serve(ctx, req);
    ctx->in_parser = false;
    ctx->resume_after_parse();
}

evhtp_res on_connection_fini(evhtp_connection_t* conn, void* arg) {
    // Later hooks of the freeing (the request's fini) must not find it.
    evhtp_connection_unset_hook(conn, evhtp_hook_on_connection_fini);
    static_cast<ClientConnection*>(arg)->finish();
    return EVHTP_RES_OK;
}

// libevhtp 1.2.18 reads errno after a read that returned 0 (end of stream)
// and, if it happens to say EAGAIN (left over from an earlier call, such as
// the listener's last accept4), takes the end of stream for a spurious wake-up:
// it registers the socket again and reads the same end of stream a second
// time before closing (four wasted system calls per connection). A read of 0
// bytes never sets errno, so clearing it here, just before that check, is exact.
void on_connection_event(evhtp_connection_t*, short events, void*) {
    if (events == (BEV_EVENT_EOF | BEV_EVENT_READING)) errno = 0;
}

evhtp_res on_accept(evhtp_connection_t* conn, void*) {
    Worker* w = Worker::current();
    if (!w) return EVHTP_RES_SERVERR;
    w->track(conn);
    // A client closing without close_notify (most do, between requests on
    // a kept-alive connection) ends the stream as a plain TCP close would.
    if (conn->ssl) bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
    auto* cc = new ClientConnection(conn, *w);
    evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini, as_hook(&on_connection_fini), cc);
    evhtp_connection_set_hook(conn, evhtp_hook_on_event, as_hook(&on_connection_event), nullptr);
    if (conn->saddr && (conn->saddr->sa_family == AF_INET || conn->saddr->sa_family == AF_INET6)) {
        int one = 1;
        setsockopt(conn->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    evhtp_connection_set_hook(conn, evhtp_hook_on_headers_start, as_hook(&on_headers_start), cc);
    evhtp_connection_set_hook(conn, evhtp_hook_on_header, as_hook(&on_header), cc);
    evhtp_connection_set_hook(conn, evhtp_hook_on_headers, as_hook(&on_headers), cc);
    // Over its address's quota: libevhtp frees it at once, and the fini hook
    // answers 429.
    if (!cc->admit()) return EVHTP_RES_ERROR;
    // A paused request keeps reading (RequestContext::pause): bound what waits unparsed.
    bufferevent_setwatermark(conn->bev, EV_READ, 0, RequestContext::kMaxUnparsedInput);
    return EVHTP_RES_OK;
}

void configure(evhtp_t* htp, Impl* impl) {
    evhtp_disable_flag(htp, EVHTP_FLAG_ENABLE_100_CONT);
    evhtp_set_gencb(htp, &on_request, impl);
    evhtp_set_post_accept_cb(htp, &on_accept, impl);
    timeval idle{RequestContext::kClientIdleSeconds, 0};
    timeval stalled{RequestContext::kClientStalledSeconds, 0};
    evhtp_set_timeouts(htp, &idle, &stalled);
}

// An `ssl` listener's connection is about to get its OpenSSL object: from
// the context of the snapshot live now.
evhtp_res on_tls_accept(evhtp_connection_t*, void* arg) {
    auto* slot = static_cast<WorkerSlot*>(arg);
    Worker* w = Worker::current();
    if (!w) return EVHTP_RES_SERVERR;
    std::shared_ptr<const Snapshot> snap = w->runtime().snapshot();
    if (snap->tls != slot->tls) {
        slot->tls = snap->tls;
        slot->htp_tls->ssl_ctx = slot->tls ? slot->tls->ctx() : nullptr;
    }
    // Never a plain connection on an `ssl` listener.
    return slot->htp_tls->ssl_ctx ? EVHTP_RES_OK : EVHTP_RES_ERROR;
}

void free_listeners(WorkerSlot* slot) {
    for (evconnlistener* l : slot->listeners) evconnlistener_free(l);
    slot->listeners.clear();
    if (slot->accept_retry) evtimer_del(slot->accept_retry);
}

// accept() failing for another reason than a connection that went away
// (EMFILE, ENFILE, ENOBUFS, ENOMEM): the listening socket stays readable,
// so a listener left on would spin on it. This worker stops listening for
// kAcceptPauseMs and tries again (connections wait in the kernel's queue
// meanwhile); one line is logged at the first failure and then at most one a
// minute, with the count.
constexpr int kAcceptPauseMs = 100;
constexpr int64_t kAcceptReportNs = 60'000'000'000;
thread_local WorkerSlot* t_slot = nullptr;

void accept_retry_cb(evutil_socket_t, short, void* arg) {
    for (evconnlistener* l : static_cast<WorkerSlot*>(arg)->listeners) evconnlistener_enable(l);
}

void on_accept_error(evconnlistener*, void*) {
    int err = EVUTIL_SOCKET_ERROR();
    WorkerSlot* slot = t_slot;
    if (!slot) return;
    for (evconnlistener* l : slot->listeners) evconnlistener_disable(l);
    timeval pause{0, kAcceptPauseMs * 1000};
    evtimer_add(slot->accept_retry, &pause);
    ++slot->accept_failures;
    int64_t now = mono_ns();
    if (slot->accept_reported_ns == 0 || now - slot->accept_reported_ns >= kAcceptReportNs) {
        log::error("worker {}: cannot accept connections: {} ({} time(s) since the last report); "
                   "listening pauses {} ms at a time until it can",
                   slot->index, strerror(err), slot->accept_failures, kAcceptPauseMs);
        slot->accept_reported_ns = now;
        slot->accept_failures = 0;
    }
}

void stop_accepting_cb(evutil_socket_t, short, void* arg) {
    log::debug("worker {}: stops accepting", static_cast<WorkerSlot*>(arg)->index);
    free_listeners(static_cast<WorkerSlot*>(arg));
}

void worker_main(Impl* impl, WorkerSlot* slot) {
    std::string error;
    slot->base = event_base_new();
    if (slot->base) {
        slot->htp = evhtp_new(slot->base, impl);
        configure(slot->htp, impl);
        for (const Listening& l : impl->listening) {
            evhtp_t* htp = slot->htp;
            if (l.tls) {
                if (!slot->htp_tls) {
                    slot->htp_tls = evhtp_new(slot->base, impl);
                    configure(slot->htp_tls, impl);
                    evhtp_set_pre_accept_cb(slot->htp_tls, &on_tls_accept, slot);
                }
                htp = slot->htp_tls;
            }
            int mine = fcntl(l.fd, F_DUPFD_CLOEXEC, 0);
            if (mine < 0 || evhtp_accept_socket(htp, mine, 0) != 0) {
                if (mine >= 0) close(mine);
                error = std::string("worker cannot accept: ") + strerror(errno);
                break;
            }
            evconnlistener_set_error_cb(htp->server, &on_accept_error);
            slot->listeners.push_back(htp->server);
            htp->server = nullptr;
        }
    } else {
        error = "cannot create a worker event loop";
    }
    if (slot->base) {
        slot->stop_accepting = event_new(slot->base, -1, 0, &stop_accepting_cb, slot);
        slot->accept_retry = evtimer_new(slot->base, &accept_retry_cb, slot);
    }
    t_slot = slot;
    auto* worker = slot->base ? new Worker(slot->index, slot->base, impl->runtime) : nullptr;
    Worker::set_current(worker);
    {
        std::lock_guard<std::mutex> lock(impl->mu);
        slot->worker = worker;
        ++impl->started;
        if (!error.empty() && impl->start_error.empty()) impl->start_error = error;
    }
    impl->cv.notify_all();

    // Runs until stop_workers(), even with no listener and no connection left.
    // (A worker that failed to start waits there too, so that the main thread
    // never touches a freed loop.)
    if (slot->base) event_base_loop(slot->base, EVLOOP_NO_EXIT_ON_EMPTY);

    // The loop has stopped: close what is still open here, on its own thread.
    free_listeners(slot);
    if (worker) {
        for (void* c : worker->connections()) evhtp_connection_free(static_cast<evhtp_connection_t*>(c));
        worker->close_sockets();
    }
    if (slot->htp) evhtp_free(slot->htp);
    if (slot->htp_tls) {
        slot->htp_tls->ssl_ctx = nullptr;  // held by slot->tls, not libevhtp's to free
        evhtp_free(slot->htp_tls);
    }
    slot->tls.reset();
    if (slot->stop_accepting) event_free(slot->stop_accepting);
    if (slot->accept_retry) event_free(slot->accept_retry);
    t_slot = nullptr;
    delete worker;
    Worker::set_current(nullptr);
    if (slot->base) event_base_free(slot->base);
}

}  // namespace

Server::Server(Runtime& runtime) : impl_(std::make_unique<Impl>(runtime)) {}

Server::~Server() {
    stop_accepting();
    stop_workers();
}

Status Server::start_workers(unsigned workers) {
    nworkers_ = workers;
    for (unsigned i = 0; i < workers; ++i) {
        auto slot = std::make_unique<WorkerSlot>();
        slot->index = i;
        slot->thread = std::thread(&worker_main, impl_.get(), slot.get());
        impl_->slots.push_back(std::move(slot));
    }
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->cv.wait(lock, [&] { return impl_->started == workers; });
    if (!impl_->start_error.empty()) return Status::fail(71, impl_->start_error);
    return {};
}

Status Server::bind(const std::vector<config::ListenAddr>& addrs, std::vector<InheritedSocket>& passed) {
    auto* inherited = &passed;
    for (const auto& a : addrs) {
        std::string shown = a.tls ? " ssl" : "";
        std::string handover = handover_name('s', a.text);
        // What the daemon this one replaces served for the same line.
        if (InheritedSocket* mine = handed_over(passed, 's', a.text)) {
            mine->used = true;
            impl_->listening.push_back({mine->fd, a.tls, handover});
            if (a.kind == config::ListenAddr::Kind::Unix) impl_->unix_paths.push_back(a.path);
            bound_.push_back(mine->name + shown);
            log::info("listening on {}{}: the socket of the daemon this one replaces", mine->name, shown);
            continue;
        }
        std::string name = listen_name(a);
        auto given = std::find_if(inherited->begin(), inherited->end(), [&](const InheritedSocket& s) {
            return !s.used && !name.empty() && s.name == name && !handed_over_elsewhere(s);
        });
        if (given != inherited->end()) {
            given->used = true;
            impl_->listening.push_back({given->fd, a.tls, handover});
            bound_.push_back(given->name + shown);
            log::info("listening on {}{}: the socket systemd passed", given->name, shown);
            continue;
        }
        // A passed socket on all addresses of the same port (ListenStream=8045
        // is [::]:8045, IPv4 too) covers this address: binding it would only
        // fail with EADDRINUSE.
        auto covering = std::find_if(inherited->begin(), inherited->end(), [&](const InheritedSocket& s) {
            return a.kind == config::ListenAddr::Kind::Tcp && a.port != 0 && s.wildcard && s.port == a.port &&
                   !handed_over_elsewhere(s);
        });
        if (covering != inherited->end()) {
            log::warning("server.listen {} is served by the socket systemd passed, {}", a.text, covering->name);
            if (!covering->used) {
                covering->used = true;
                impl_->listening.push_back({covering->fd, a.tls, handover});
                bound_.push_back(covering->name + shown);
            }
            continue;
        }
        auto sock = open_listen_socket(a);
        if (!sock) return Status(sock.error());
        impl_->listening.push_back({sock->fd, a.tls, handover});
        if (!sock->unix_path.empty()) impl_->unix_paths.push_back(sock->unix_path);
        bound_.push_back(sock->name + shown);
    }
    // A socket the socket unit has and server.listen does not: served too
    // (the unit decides what reaches the daemon), and said.
    for (auto& s : *inherited) {
        if (s.used || handed_over_elsewhere(s)) continue;
        s.used = true;
        impl_->listening.push_back({s.fd, false, s.label});
        bound_.push_back(s.name);
        log::warning("listening on {} as systemd passed it, though server.listen does not name it", s.name);
    }
    return {};
}

Worker* Server::worker(unsigned i) const {
    return i < impl_->slots.size() ? impl_->slots[i]->worker : nullptr;
}

void Server::stop_accepting(bool keep_paths) {
    // Each worker frees its own listeners on its own thread.
    for (auto& slot : impl_->slots)
        if (slot->stop_accepting) event_active(slot->stop_accepting, EV_TIMEOUT, 0);
    for (const Listening& l : impl_->listening) close(l.fd);
    impl_->listening.clear();
    if (!keep_paths)
        for (const auto& p : impl_->unix_paths) unlink(p.c_str());
    impl_->unix_paths.clear();
}

void Server::close_waiting(bool heads_too) {
    for (auto& slot : impl_->slots) {
        Worker* w = slot->worker;
        if (w) w->mailbox().post([w, heads_too] { w->close_waiting(heads_too); });
    }
}

std::vector<Server::Handover> Server::handover() const {
    std::vector<Handover> out;
    for (const Listening& l : impl_->listening) out.push_back({l.fd, l.name});
    return out;
}

void Server::stop_workers() {
    for (auto& slot : impl_->slots)
        if (slot->base) event_base_loopexit(slot->base, nullptr);
    for (auto& slot : impl_->slots)
        if (slot->thread.joinable()) slot->thread.join();
    impl_->slots.clear();
}

}  // namespace agd
