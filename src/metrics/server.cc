#include "metrics/server.h"

#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/core.h>

#include "common/ascii.h"
#include "common/log.h"
#include "metrics/exposition.h"
#include "server/listen_socket.h"

namespace agd::metrics {

namespace {

constexpr size_t kReadChunk = 4096;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// Index just past the blank line that ends the head, npos if not there yet.
// Lines may end with CRLF or a bare LF.
size_t head_end(std::string_view in) {
    for (size_t i = in.find('\n'); i != std::string_view::npos; i = in.find('\n', i + 1)) {
        if (i + 1 < in.size() && in[i + 1] == '\n') return i + 2;
        if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') return i + 3;
    }
    return std::string_view::npos;
}

// What a request head asks for.
struct Request {
    int status = 0;  // 0: a scrape; else the error to answer
    bool head = false;
    bool keep_alive = false;
    bool http10 = false;
};

Request parse_head(std::string_view head) {
    Request r;
    // Blank lines before the request line are ignored (RFC 9112, 2.2).
    while (!head.empty() && (head.front() == '\r' || head.front() == '\n')) head.remove_prefix(1);
    size_t eol = head.find('\n');
    std::string_view line = trim(head.substr(0, eol));
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 1);

    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        r.status = 400;
        return r;
    }
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (version == "HTTP/1.1") {
        r.keep_alive = true;
    } else if (version == "HTTP/1.0") {
        r.http10 = true;
    } else {
        r.status = version.substr(0, 5) == "HTTP/" ? 505 : 400;
        return r;
    }
    r.head = method == "HEAD";

    bool body = false;
    while (!head.empty()) {
        eol = head.find('\n');
        std::string_view h = trim(head.substr(0, eol));
        head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 1);
        if (h.empty()) break;
        size_t colon = h.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            r.status = 400;
            return r;
        }
        std::string_view name = h.substr(0, colon);
        std::string_view value = trim(h.substr(colon + 1));
        if (iequals(name, "content-length")) {
            if (value != "0") body = true;
        } else if (iequals(name, "transfer-encoding")) {
            body = true;
        } else if (iequals(name, "connection")) {
            while (!value.empty()) {
                size_t comma = value.find(',');
                std::string_view token = trim(value.substr(0, comma));
                if (iequals(token, "close")) r.keep_alive = false;
                else if (iequals(token, "keep-alive") && r.http10) r.keep_alive = true;
                value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
            }
        }
    }
    if (body) {
        r.status = 400;
        r.keep_alive = false;
        return r;
    }
    std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") r.status = 404;
    else if (method != "GET" && method != "HEAD") r.status = 405;
    return r;
}

const char* reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 431: return "Request Header Fields Too Large";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "Error";
    }
}

// A whole answer: head, and the body unless the request was HEAD.
std::string answer(int status, std::string_view content_type, std::string_view body, bool head_only, bool keep_alive,
                   bool http10) {
    std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", status,
                                  reason(status), content_type, body.size());
    if (status == 405) out += "Allow: GET, HEAD\r\n";
    if (!keep_alive) out += "Connection: close\r\n";
    else if (http10) out += "Connection: keep-alive\r\n";
    out += "\r\n";
    if (!head_only) out += body;
    return out;
}

std::string error_answer(int status, bool head_only, bool keep_alive, bool http10) {
    std::string body = fmt::format("{} {}\n", status, reason(status));
    return answer(status, "text/plain; charset=utf-8", body, head_only, keep_alive, http10);
}

}  // namespace

// One client connection. Owned by the server's map; Respond closures hold a weak_ptr.
struct MetricsServer::Connection : std::enable_shared_from_this<Connection> {
    enum class Phase { Idle, Head, Scraping, Writing };

    MetricsServer* server = nullptr;
    int fd = -1;
    uint64_t seq = 0;
    event* read_ev = nullptr;
    event* write_ev = nullptr;
    event* timer_ev = nullptr;
    std::string in;
    std::string out;
    size_t sent = 0;
    Phase phase = Phase::Idle;
    bool close_after = false;
    bool in_process = false;

    ~Connection() {
        if (read_ev) event_free(read_ev);
        if (write_ev) event_free(write_ev);
        if (timer_ev) event_free(timer_ev);
        if (fd >= 0) ::close(fd);
    }

    void arm(int seconds) {
        timeval tv{seconds, 0};
        evtimer_add(timer_ev, &tv);
    }
    void close() { server->remove(this); }

    static void on_read(int, short, void* arg);
    static void on_write(int, short, void* arg);
    static void on_timer(int, short, void* arg);
    void process();
    void send(std::string text, bool keep_alive);
    void flush();
    void scraped(const std::string& body, bool head_only, bool keep_alive, bool http10);
};

void MetricsServer::Connection::on_read(int, short, void* arg) {
    auto self = static_cast<Connection*>(arg)->shared_from_this();  // may be removed below
    char buf[kReadChunk];
    // Bounded per wake-up (level-triggered: the rest comes next turn), and
    // never much past the head limit.
    for (int round = 0; round < 4 && self->in.size() <= kMaxHead; ++round) {
        ssize_t n = ::recv(self->fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (self->phase == Phase::Idle) {
                self->phase = Phase::Head;
                self->arm(kHeadTimeoutSeconds);
            }
            self->in.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        self->close();  // end of stream or error: nothing to answer to
        return;
    }
    self->process();
}

// Answers the complete heads in the input, in order, until one waits (a
// scrape, or an answer the socket did not take at once).
void MetricsServer::Connection::process() {
    in_process = true;
    while (server && (phase == Phase::Idle || phase == Phase::Head) && !in.empty()) {
        size_t end = head_end(in);
        if (end == std::string::npos || end > kMaxHead) {
            if (in.size() > kMaxHead) {
                send(error_answer(431, false, false, false), false);
            } else if (phase == Phase::Idle) {
                phase = Phase::Head;
                arm(kHeadTimeoutSeconds);
            }
            break;
        }
        Request r = parse_head(std::string_view(in).substr(0, end));
        in.erase(0, end);
        if (r.status != 0) {
            send(error_answer(r.status, r.head, r.keep_alive, r.http10), r.keep_alive);
            continue;
        }
        phase = Phase::Scraping;
        event_del(read_ev);  // pipelined requests wait in the socket
        arm(kScrapeTimeoutSeconds);
        std::weak_ptr<Connection> weak = weak_from_this();
        server->scrape_([weak, r](const std::string& body) {
            if (auto c = weak.lock()) c->scraped(body, r.head, r.keep_alive, r.http10);
        });
    }
    in_process = false;
}

void MetricsServer::Connection::scraped(const std::string& body, bool head_only, bool keep_alive, bool http10) {
    if (!server || phase != Phase::Scraping) return;
    send(answer(200, kContentType, body, head_only, keep_alive, http10), keep_alive);
}

void MetricsServer::Connection::send(std::string text, bool keep_alive) {
    out = std::move(text);
    sent = 0;
    close_after = !keep_alive;
    phase = Phase::Writing;
    event_del(read_ev);
    flush();
}

void MetricsServer::Connection::flush() {
    auto self = shared_from_this();
    while (sent < out.size()) {
        ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!event_pending(write_ev, EV_WRITE, nullptr)) {
                event_add(write_ev, nullptr);
                arm(kWriteTimeoutSeconds);
            }
            return;
        }
        close();  // the client went away
        return;
    }
    out.clear();
    sent = 0;
    if (close_after) {
        ::shutdown(fd, SHUT_WR);
        close();
        return;
    }
    // Ready for the next request: one already read waits in `in`.
    phase = in.empty() ? Phase::Idle : Phase::Head;
    arm(in.empty() ? kIdleTimeoutSeconds : kHeadTimeoutSeconds);
    event_add(read_ev, nullptr);
    if (!in.empty() && !in_process) event_active(read_ev, EV_READ, 0);
}

void MetricsServer::Connection::on_write(int, short, void* arg) { static_cast<Connection*>(arg)->flush(); }

// The deadline of the phase it is in (head, idle, answer, scrape) passed.
void MetricsServer::Connection::on_timer(int, short, void* arg) {
    auto self = static_cast<Connection*>(arg)->shared_from_this();  // freed when this returns
    self->close();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::listen(event_base* base,
                                                              const std::vector<config::ListenAddr>& addrs,
                                                              Scrape scrape, std::vector<InheritedSocket>* inherited) {
    using R = Result<std::unique_ptr<MetricsServer>>;
    std::unique_ptr<MetricsServer> server(new MetricsServer(base, std::move(scrape)));
    for (const auto& a : addrs) {
        Result<ListenSocket> sock = ListenSocket{};
        if (InheritedSocket* given = inherited ? handed_over(*inherited, 'm', a.text) : nullptr) {
            given->used = true;
            sock->fd = given->fd;
            sock->name = given->name;
            if (a.kind == config::ListenAddr::Kind::Unix) sock->unix_path = a.path;
        } else {
            sock = open_listen_socket(a, 64);
        }
        if (!sock) return R::fail(sock.error().code, "metrics: " + sock.error().message);
        auto l = std::make_unique<Listener>();
        l->server = server.get();
        l->fd = sock->fd;
        l->unix_path = sock->unix_path;
        l->name = handover_name('m', a.text);
        l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, &MetricsServer::on_accept, l.get());
        l->retry = evtimer_new(base, &MetricsServer::on_accept_retry, l.get());
        bool ok = l->ev && l->retry && event_add(l->ev, nullptr) == 0;
        server->listeners_.push_back(std::move(l));
        if (!ok) return R::fail(70, "metrics: cannot watch " + sock->name);
        server->bound_.push_back(sock->name);
    }
    return server;
}

std::vector<std::pair<int, std::string>> MetricsServer::handover() const {
    std::vector<std::pair<int, std::string>> out;
    for (const auto& l : listeners_)
        if (l->fd >= 0) out.emplace_back(l->fd, l->name);
    return out;
}

void MetricsServer::hand_over() {
    for (auto& l : listeners_) {
        if (l->ev) event_del(l->ev);
        if (l->retry) event_del(l->retry);
        if (l->fd >= 0) ::close(l->fd);
        l->fd = -1;
        l->unix_path.clear();
    }
}

MetricsServer::~MetricsServer() {
    for (auto& l : listeners_) {
        if (l->ev) event_free(l->ev);
        if (l->retry) event_free(l->retry);
        if (l->fd >= 0) ::close(l->fd);
        if (!l->unix_path.empty()) ::unlink(l->unix_path.c_str());
    }
    for (auto& [raw, conn] : conns_) conn->server = nullptr;
    conns_.clear();
}

void MetricsServer::on_accept(int, short, void* arg) {
    auto* l = static_cast<Listener*>(arg);
    l->server->accept_all(*l);
}

void MetricsServer::on_accept_retry(int, short, void* arg) {
    auto* l = static_cast<Listener*>(arg);
    event_add(l->ev, nullptr);
    l->server->accept_all(*l);
}

void MetricsServer::accept_all(Listener& l) {
    for (int i = 0; i < 64; ++i) {  // the rest on the next turn (level-triggered)
        int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // The socket stays readable: without a pause this would spin.
                log::warning("metrics: cannot accept: {}; pausing for a second", std::strerror(errno));
                event_del(l.ev);
                timeval one_second{1, 0};
                evtimer_add(l.retry, &one_second);
            }
            return;
        }
        if (conns_.size() >= kMaxConnections && !evict_oldest_idle()) {
            std::string busy = error_answer(503, false, false, false);
            (void)!::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            ::close(fd);
            continue;
        }
        auto c = std::make_shared<Connection>();
        c->server = this;
        c->fd = fd;
        c->seq = ++accepted_;
        c->read_ev = event_new(base_, fd, EV_READ | EV_PERSIST, &Connection::on_read, c.get());
        c->write_ev = event_new(base_, fd, EV_WRITE, &Connection::on_write, c.get());
        c->timer_ev = evtimer_new(base_, &Connection::on_timer, c.get());
        if (!c->read_ev || !c->write_ev || !c->timer_ev || event_add(c->read_ev, nullptr) != 0) continue;
        c->arm(kHeadTimeoutSeconds);
        conns_.emplace(c.get(), std::move(c));
    }
}

bool MetricsServer::evict_oldest_idle() {
    Connection* oldest = nullptr;
    for (const auto& [raw, c] : conns_)
        if (c->phase == Connection::Phase::Idle && c->in.empty() && (!oldest || c->seq < oldest->seq)) oldest = raw;
    if (!oldest) return false;
    remove(oldest);
    return true;
}

void MetricsServer::remove(Connection* c) {
    c->server = nullptr;
    conns_.erase(c);  // may destroy it: callers hold a shared_ptr while they still use it
}

}  // namespace agd::metrics
