#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <evhtp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "common/log.h"
#include "server/request_context.h"
#include "server/runtime.h"
#include "server/worker.h"

namespace agd {

struct Server::Impl {
    event_base* base;
    Runtime& runtime;
    evhtp_t* htp = nullptr;
    std::vector<evconnlistener*> listeners;
    std::vector<std::string> unix_paths;

    std::mutex mu;
    std::condition_variable cv;
    unsigned started = 0;
    unsigned next_index = 0;

    Impl(event_base* b, Runtime& r) : base(b), runtime(r) {}
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

evhtp_res on_read(evhtp_request_t* req, evbuffer* buf, void* arg) {
    RequestContext* ctx = ctx_of(arg);
    size_t len = evbuffer_get_length(buf);
    ctx->body_received += len;
    if (!ctx->has_reply() && ctx->body_received > ctx->snap->config->server.max_body_size) {
        ctx->fail(ErrorKind::TooLarge, "request body exceeds server.max_body_size (" +
                                           std::to_string(ctx->snap->config->server.max_body_size) + " bytes)");
        evbuffer_drain(req->buffer_in, evbuffer_get_length(req->buffer_in));
    }
    // A refused request's body is read and dropped, never kept in memory.
    if (ctx->has_reply()) evbuffer_drain(buf, len);
    return EVHTP_RES_OK;
}

evhtp_res on_fini(evhtp_request_t* req, void* arg) {
    evhtp_request_unset_hook(req, evhtp_hook_on_request_fini);  // libevhtp may run fini twice
    evhtp_request_unset_hook(req, evhtp_hook_on_error);
    evhtp_request_unset_hook(req, evhtp_hook_on_read);
    delete ctx_of(arg);
    return EVHTP_RES_OK;
}

void on_error(evhtp_request_t* req, evhtp_error_flags, void* arg) {
    RequestContext* ctx = ctx_of(arg);
    ctx->on_client_gone();
    // While paused libevhtp waits for a resume before it frees the connection.
    if (ctx->paused()) evhtp_connection_resume(evhtp_request_get_connection(req));
}

evhtp_res on_headers(evhtp_request_t* req, evhtp_headers_t*, void* arg) {
    auto* impl = static_cast<Impl*>(arg);
    Worker* worker = Worker::current();
    if (!worker) return EVHTP_RES_SERVERR;
    auto* ctx = new RequestContext(req, *worker, impl->runtime.snapshot());
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
    ctx->route = classify(ctx->method, ctx->path, ctx->query, !ctx->header("anthropic-version").empty());

    evhtp_connection_t* conn = evhtp_request_get_connection(req);
    if (auto ip = ip_from_sockaddr(conn->saddr)) {
        ctx->peer_is_ip = true;
        ctx->peer = *ip;
        ctx->client = *ip;
    }

    uint64_t max_body = ctx->snap->config->server.max_body_size;
    std::string_view cl = ctx->header("content-length");
    if (!cl.empty() && std::strtoull(std::string(cl).c_str(), nullptr, 10) > max_body) {
        ctx->fail(ErrorKind::TooLarge, "request body of " + std::string(cl) + " bytes exceeds server.max_body_size (" +
                                           std::to_string(max_body) + " bytes)");
    }
    if (!ctx->has_reply()) ctx->snap->chain.run(Phase::Headers, *ctx);
    if (ctx->client_text.empty()) ctx->client_text = ctx->peer_is_ip ? ctx->peer.str() : "unix";

    // We answer 100-continue ourselves, and only for requests we will read.
    std::string_view expect = ctx->header("expect");
    if (!ctx->has_reply() && expect.size() == 12 && strncasecmp(expect.data(), "100-continue", 12) == 0 &&
        evhtp_request_get_proto(req) == EVHTP_PROTO_11) {
        evbuffer_add(bufferevent_get_output(conn->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    return EVHTP_RES_OK;
}

void on_request(evhtp_request_t* req, void* arg) {
    RequestContext* ctx = ctx_of(arg);
    ctx->body_complete = true;
    if (ctx->has_reply()) {
        ctx->flush_pending_reply();
        return;
    }
    size_t len = evbuffer_get_length(req->buffer_in);
    evbuffer_add(req->buffer_in, "", 1);  // NUL-terminate for the JSON scanner
    ctx->body_data = reinterpret_cast<const char*>(evbuffer_pullup(req->buffer_in, -1));
    ctx->body_len = len;
    StageResult r = ctx->snap->chain.run(Phase::Body, *ctx);
    if (r == StageResult::Continue) ctx->fail(ErrorKind::Internal, "no stage answered the request");
}

evhtp_res on_connection_fini(evhtp_connection_t* conn, void*) {
    if (Worker* w = Worker::current()) w->untrack(conn);
    return EVHTP_RES_OK;
}

evhtp_res on_accept(evhtp_connection_t* conn, void* arg) {
    if (Worker* w = Worker::current()) w->track(conn);
    evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini, as_hook(&on_connection_fini), nullptr);
    if (conn->saddr && (conn->saddr->sa_family == AF_INET || conn->saddr->sa_family == AF_INET6)) {
        int one = 1;
        setsockopt(conn->sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    evhtp_connection_set_hook(conn, evhtp_hook_on_headers, as_hook(&on_headers), arg);
    return EVHTP_RES_OK;
}

void on_thread_init(evhtp_t*, evthr_t* thr, void* arg) {
    auto* impl = static_cast<Impl*>(arg);
    unsigned index;
    {
        std::lock_guard<std::mutex> lock(impl->mu);
        index = impl->next_index++;
    }
    auto* w = new Worker(index, evthr_get_base(thr), impl->runtime);
    Worker::set_current(w);
    {
        std::lock_guard<std::mutex> lock(impl->mu);
        ++impl->started;
    }
    impl->cv.notify_all();
}

void on_thread_exit(evhtp_t*, evthr_t*, void*) {
    // The loop has stopped: close what is still open here, on its own thread.
    if (Worker* w = Worker::current())
        for (void* c : w->connections()) evhtp_connection_free(static_cast<evhtp_connection_t*>(c));
    delete Worker::current();
    Worker::set_current(nullptr);
}

std::string sockerr(const char* what, const std::string& addr) {
    return std::string(what) + " " + addr + ": " + strerror(errno);
}

}  // namespace

Server::Server(event_base* main_base, Runtime& runtime) : impl_(std::make_unique<Impl>(main_base, runtime)) {
    impl_->htp = evhtp_new(main_base, impl_.get());
    evhtp_disable_flag(impl_->htp, EVHTP_FLAG_ENABLE_100_CONT);
    evhtp_set_gencb(impl_->htp, &on_request, impl_.get());
    evhtp_set_post_accept_cb(impl_->htp, &on_accept, impl_.get());
    // Idle keep-alive connections and stalled request reads are closed after
    // 2 minutes; a client that accepts no byte of its response for 5 minutes too.
    timeval idle{120, 0};
    timeval stalled{300, 0};
    evhtp_set_timeouts(impl_->htp, &idle, &stalled);
}

Server::~Server() {
    stop_accepting();
    stop_workers();
}

Status Server::start_workers(unsigned workers) {
    nworkers_ = workers;
    if (evhtp_use_threads_wexit(impl_->htp, &on_thread_init, &on_thread_exit, static_cast<int>(workers), impl_.get()) != 0)
        return Status::fail(70, "cannot start worker threads");
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->cv.wait(lock, [&] { return impl_->started == workers; });
    return {};
}

Status Server::bind(const std::vector<config::ListenAddr>& addrs) {
    for (const auto& a : addrs) {
        int fd = -1;
        std::string name;
        if (a.kind == config::ListenAddr::Kind::Unix) {
            sockaddr_un sun{};
            sun.sun_family = AF_UNIX;
            if (a.path.size() >= sizeof sun.sun_path) return Status::fail(78, "unix socket path too long: " + a.path);
            std::memcpy(sun.sun_path, a.path.c_str(), a.path.size());
            fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0) return Status::fail(71, sockerr("cannot create socket for", a.text));
            struct stat st;
            if (lstat(a.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
                int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                bool live = connect(probe, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0;
                close(probe);
                if (live) {
                    close(fd);
                    return Status::fail(69, "cannot listen on " + a.text + ": another process is serving that socket");
                }
                unlink(a.path.c_str());
            }
            if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
                Status s = Status::fail(71, sockerr("cannot bind", a.text));
                close(fd);
                return s;
            }
            chmod(a.path.c_str(), 0660);
            impl_->unix_paths.push_back(a.path);
            name = "unix:" + a.path;
        } else {
            auto ip = parse_ip(a.host);
            if (!ip) return Status::fail(78, "cannot listen on " + a.text + ": not an IP address");
            sockaddr_storage ss{};
            socklen_t len;
            if (ip->is_v4()) {
                auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
                sin->sin_family = AF_INET;
                sin->sin_port = htons(a.port);
                std::memcpy(&sin->sin_addr, ip->bytes.data() + 12, 4);
                len = sizeof *sin;
            } else {
                auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(a.port);
                std::memcpy(&sin6->sin6_addr, ip->bytes.data(), 16);
                len = sizeof *sin6;
            }
            fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0) return Status::fail(71, sockerr("cannot create socket for", a.text));
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
                Status s = Status::fail(71, sockerr("cannot bind", a.text));
                close(fd);
                return s;
            }
            sockaddr_storage got{};
            socklen_t gl = sizeof got;
            getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl);
            uint16_t port = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&got)->sin_port
                                                           : reinterpret_cast<sockaddr_in6*>(&got)->sin6_port);
            std::string host = ip->str();
            name = ip->is_v4() ? host + ":" + std::to_string(port) : "[" + host + "]:" + std::to_string(port);
        }
        if (evhtp_accept_socket(impl_->htp, fd, 1024) != 0) {
            close(fd);
            return Status::fail(71, sockerr("cannot listen on", a.text));
        }
        impl_->listeners.push_back(impl_->htp->server);
        impl_->htp->server = nullptr;
        bound_.push_back(name);
    }
    return {};
}

void Server::stop_accepting() {
    for (evconnlistener* l : impl_->listeners) evconnlistener_free(l);
    impl_->listeners.clear();
    for (const auto& p : impl_->unix_paths) unlink(p.c_str());
    impl_->unix_paths.clear();
}

void Server::stop_workers() {
    if (impl_->htp) {
        evhtp_free(impl_->htp);  // stops and joins the worker threads
        impl_->htp = nullptr;
    }
}

}  // namespace agd
