#include "server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <event2/thread.h>
#include <evhtp.h>
#include <fmt/format.h>

#include "incoming.h"
#include "introspect.h"
#include "routes.h"
#include "worker.h"

namespace mock {
namespace {

constexpr int kBacklog = 4096;

// libevhtp's accept hook, on the thread that serves the connection.
evhtp_res post_accept(evhtp_connection_t* conn, void*) {
    stats().connections.fetch_add(1);
    Worker* w = current_worker();
    if (w == nullptr) {
        return EVHTP_RES_ERROR;
    }
    attach_connection(*w, conn);
    return EVHTP_RES_OK;
}

void thread_init(evhtp_t*, evthr_t* thr, void*) {
    set_current_worker(new Worker(evthr_get_base(thr)));
}

void thread_exit(evhtp_t*, evthr_t* thr, void*) {
    Worker* w = current_worker();
    if (w != nullptr) {
        w->close_all();
        delete w;
        set_current_worker(nullptr);
    }
    // A connection freed on this loop (by close_all, or by its client's
    // close just before the stop) finishes freeing its bufferevent from the
    // loop: one more pass, as the main loop gets in serve_on.
    event_base_loop(evthr_get_base(thr), EVLOOP_NONBLOCK);
}

void on_signal(evutil_socket_t, short, void* arg) {
    event_base_loopbreak(static_cast<event_base*>(arg));
}

// Many concurrent streams need many descriptors.
void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// A bound, non-blocking socket (not yet listening), or -1.
int bind_socket(const Options& o) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string port = std::to_string(o.port);
    int rc = getaddrinfo(o.host.empty() ? nullptr : o.host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0) {
        fmt::print(stderr, "agd-mock-upstream: cannot resolve {}: {}\n", o.host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    int last_errno = 0;
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0) {
        fmt::print(stderr, "agd-mock-upstream: cannot bind {}:{}: {}\n", o.host, o.port,
                   std::strerror(last_errno));
    }
    return fd;
}

int bound_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    }
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// Writes "<port>\n" to path via a temporary file and rename.
bool write_port_file(const std::string& path, int port) {
    std::string tmp = fmt::format("{}.tmp.{}", path, getpid());
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
        return false;
    }
    bool ok = std::fprintf(f, "%d\n", port) > 0;
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return false;
    }
    return true;
}

struct EventDeleter {
    void operator()(event* e) const { event_free(e); }
};

// Sets up libevhtp on base, announces the port and runs until a signal
// breaks the loop. Frees everything it created before returning.
int serve_on(event_base* base, const Options& o) {
    evhtp_t* htp = evhtp_new(base, nullptr);
    if (htp == nullptr) {
        fmt::print(stderr, "agd-mock-upstream: cannot create the HTTP server\n");
        return 1;
    }
    evhtp_set_gencb(htp, &handle_request, nullptr);
    // Every path matches "*"; the callback carries the per-request hook.
    evhtp_callback_t* all = evhtp_set_glob_cb(htp, "*", &handle_request, nullptr);
    if (all != nullptr) {
        evhtp_callback_set_hook(all, evhtp_hook_on_headers, as_hook(&on_request_headers), nullptr);
    }
    evhtp_set_post_accept_cb(htp, &post_accept, nullptr);

    std::unique_ptr<Worker> main_worker;
    if (o.threads > 1) {
        evhtp_use_threads_wexit(htp, &thread_init, &thread_exit, o.threads, nullptr);
    } else {
        main_worker = std::make_unique<Worker>(base);
        set_current_worker(main_worker.get());
    }

    int rc = 0;
    int fd = bind_socket(o);
    if (fd < 0) {
        rc = 1;
    } else if (evhtp_accept_socket(htp, fd, kBacklog) != 0) {
        fmt::print(stderr, "agd-mock-upstream: cannot listen: {}\n", std::strerror(errno));
        close(fd);
        rc = 1;
    } else {
        int port = bound_port(fd);
        if (!o.port_file.empty() && !write_port_file(o.port_file, port)) {
            fmt::print(stderr, "agd-mock-upstream: cannot write {}: {}\n", o.port_file,
                       std::strerror(errno));
            rc = 1;
        } else {
            std::printf("LISTENING %d\n", port);
            std::fflush(stdout);
            event_base_dispatch(base);
        }
        evhtp_unbind_socket(htp);
    }

    if (main_worker) {
        main_worker->close_all();
        set_current_worker(nullptr);
    }
    evhtp_free(htp);  // stops the worker threads, which close their connections
    // libevent finishes freeing a connection's bufferevent from the loop
    // (deferred callbacks); one more pass runs what the last pass left.
    event_base_loop(base, EVLOOP_NONBLOCK);
    return rc;
}

}  // namespace

int run_server(const Options& o) {
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    evthread_use_pthreads();

    // Precise timers (not CLOCK_MONOTONIC_COARSE) so pace is kept to well
    // under a millisecond. The variable also reaches the bases libevhtp
    // creates for its worker threads.
    setenv("EVENT_PRECISE_TIMER", "1", 1);
    event_config* cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    event_base* base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (base == nullptr) {
        fmt::print(stderr, "agd-mock-upstream: cannot create the event loop\n");
        return 1;
    }

    int rc = 0;
    {
        // Handlers are in place before "LISTENING" is printed. Freeing the
        // events restores SIG_IGN, so a second signal during teardown is harmless.
        signal(SIGTERM, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        std::unique_ptr<event, EventDeleter> sigterm(evsignal_new(base, SIGTERM, &on_signal, base));
        std::unique_ptr<event, EventDeleter> sigint(evsignal_new(base, SIGINT, &on_signal, base));
        event_add(sigterm.get(), nullptr);
        event_add(sigint.get(), nullptr);
        rc = serve_on(base, o);
    }
    event_base_free(base);
    return rc;
}

}  // namespace mock
