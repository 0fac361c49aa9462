#include "worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>


namespace mock {
namespace {

thread_local Worker* t_worker = nullptr;

evhtp_res on_connection_fini(evhtp_connection_t*, void* arg) {
    auto* ctx = static_cast<ConnCtx*>(arg);
    Worker* w = ctx->worker;
    if (ctx->prev != nullptr) {
        ctx->prev->next = ctx->next;
    } else {
        w->conns = ctx->next;
    }
    if (ctx->next != nullptr) {
        ctx->next->prev = ctx->prev;
    }
    delete ctx;
    return EVHTP_RES_OK;
}

// The connection's state: the argument of its on_connection_fini hook.
ConnCtx* find_ctx(evhtp_connection_t* conn) {
    evhtp_hooks_t* hooks = conn != nullptr ? evhtp_connection_get_hooks(conn) : nullptr;
    if (hooks == nullptr || hooks->on_connection_fini != &on_connection_fini) {
        return nullptr;
    }
    return static_cast<ConnCtx*>(hooks->on_connection_fini_arg);
}

}  // namespace

Worker::Worker(event_base* b)
    : base(b), early_close((event_base_get_features(b) & EV_FEATURE_EARLY_CLOSE) != 0) {}

void Worker::close_all() {
    while (conns != nullptr) {
        evhtp_connection_free(conns->conn);  // on_connection_fini unlinks it
    }
}

Worker* current_worker() { return t_worker; }

void set_current_worker(Worker* w) { t_worker = w; }

void count_request(evhtp_connection_t* conn) {
    if (ConnCtx* ctx = find_ctx(conn)) {
        ++ctx->requests;
    }
}

uint64_t request_ordinal(evhtp_connection_t* conn) {
    ConnCtx* ctx = find_ctx(conn);
    return ctx != nullptr ? ctx->requests : 0;
}

void attach_connection(Worker& w, evhtp_connection_t* conn) {
    int on = 1;
    setsockopt(conn->sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));

    auto* ctx = new ConnCtx;
    ctx->worker = &w;
    ctx->conn = conn;
    ctx->next = w.conns;
    if (w.conns != nullptr) {
        w.conns->prev = ctx;
    }
    w.conns = ctx;
    evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini, as_hook(&on_connection_fini),
                              ctx);
}

}  // namespace mock
