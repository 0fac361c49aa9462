#include "metrics/server.h"

#include <doctest/doctest.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

using namespace agd;
using namespace agd::metrics;

namespace {

constexpr const char* kBody = "some_metric 1\n";

// A MetricsServer on its own loop thread. Scrapes are answered 10 ms later,
// all pending ones at once (as the collector does).
// The loop thread is stopped from the test's thread: libevent's locking on.
event_base* locked_base() {
    static const int threads = evthread_use_pthreads();
    (void)threads;
    return event_base_new();
}

struct Fixture {
    event_base* base = locked_base();
    event* answer_timer = nullptr;
    std::vector<MetricsServer::Respond> pending;
    std::atomic<int> scrapes{0};
    std::unique_ptr<MetricsServer> server;
    std::thread loop;
    int port = 0;

    explicit Fixture(std::vector<config::ListenAddr> addrs = {tcp()}) {
        answer_timer = evtimer_new(base, &Fixture::on_answer, this);
        auto s = MetricsServer::listen(base, addrs, [this](MetricsServer::Respond r) {
            ++scrapes;
            pending.push_back(std::move(r));
            timeval ten_ms{0, 10'000};
            if (!evtimer_pending(answer_timer, nullptr)) evtimer_add(answer_timer, &ten_ms);
        });
        REQUIRE(s.ok());
        server = std::move(s.value());
        const std::string& name = server->bound()[0];
        if (name.rfind("unix:", 0) != 0) port = std::atoi(name.c_str() + name.rfind(':') + 1);
        loop = std::thread([this] { event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); });
    }
    ~Fixture() {
        event_base_loopexit(base, nullptr);  // (a loopbreak before the loop starts would be lost)
        loop.join();
        server.reset();
        event_free(answer_timer);
        event_base_free(base);
    }
    static config::ListenAddr tcp() {
        config::ListenAddr a;
        a.host = "127.0.0.1";
        a.text = "127.0.0.1:0";
        return a;
    }
    static void on_answer(evutil_socket_t, short, void* arg) {
        auto* f = static_cast<Fixture*>(arg);
        auto rs = std::move(f->pending);
        f->pending.clear();
        for (auto& r : rs) r(kBody);
    }
};

int connect_tcp(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

void send_all(int fd, const std::string& s) { REQUIRE(send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size())); }

// Everything until the server closes (or 5 s).
std::string read_to_close(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

struct Answer {
    int status = 0;
    std::string head;
    std::string body;
};

// One answer from a kept-alive connection; `buffer` keeps what was read past it.
Answer read_answer(int fd, std::string& buffer, bool head_request = false) {
    char buf[4096];
    size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return {};
        buffer.append(buf, static_cast<size_t>(n));
    }
    Answer a;
    a.head = buffer.substr(0, end + 4);
    buffer.erase(0, end + 4);
    a.status = std::atoi(a.head.c_str() + 9);
    size_t cl = a.head.find("Content-Length: ");
    size_t len = head_request || cl == std::string::npos ? 0 : std::strtoul(a.head.c_str() + cl + 16, nullptr, 10);
    while (buffer.size() < len) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        buffer.append(buf, static_cast<size_t>(n));
    }
    a.body = buffer.substr(0, len);
    buffer.erase(0, len);
    return a;
}

Answer one(int port, const std::string& request) {
    int fd = connect_tcp(port);
    send_all(fd, request);
    std::string buffer;
    Answer a = read_answer(fd, buffer, request.rfind("HEAD", 0) == 0);
    close(fd);
    return a;
}

bool closed_by_server(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    char c;
    return recv(fd, &c, 1, 0) == 0;
}

}  // namespace

TEST_CASE("metrics server: GET and HEAD /metrics") {
    Fixture f;
    Answer a = one(f.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(a.status == 200);
    CHECK(a.head.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != std::string::npos);
    CHECK(a.head.find("Content-Length: 14\r\n") != std::string::npos);
    CHECK(a.head.find("Connection: close") == std::string::npos);
    CHECK(a.body == kBody);
    // A query string is ignored (some scrapers add one).
    CHECK(one(f.port, "GET /metrics?name[]=x HTTP/1.1\r\n\r\n").status == 200);

    int fd = connect_tcp(f.port);
    send_all(fd, "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    std::string all = read_to_close(fd);
    close(fd);
    CHECK(all.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(all.find("Content-Length: 14\r\n") != std::string::npos);
    CHECK(all.find("Connection: close\r\n") != std::string::npos);
    CHECK(all.size() == all.find("\r\n\r\n") + 4);  // no body
}

TEST_CASE("metrics server: other paths, methods, bodies, versions, heads") {
    Fixture f;
    CHECK(one(f.port, "GET / HTTP/1.1\r\n\r\n").status == 404);
    CHECK(one(f.port, "GET /metrics/x HTTP/1.1\r\n\r\n").status == 404);
    CHECK(one(f.port, "GET /v1/chat/completions HTTP/1.1\r\n\r\n").status == 404);
    Answer a = one(f.port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    CHECK(a.status == 405);
    CHECK(a.head.find("Allow: GET, HEAD\r\n") != std::string::npos);
    CHECK(one(f.port, "DELETE /metrics HTTP/1.1\r\n\r\n").status == 405);
    a = one(f.port, "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    CHECK(a.status == 400);
    CHECK(a.head.find("Connection: close\r\n") != std::string::npos);
    CHECK(one(f.port, "GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").status == 400);
    CHECK(one(f.port, "GET /metrics HTTP/2.0\r\n\r\n").status == 505);
    CHECK(one(f.port, "GET /metrics\r\n\r\n").status == 400);
    CHECK(one(f.port, "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n").status == 400);
    // A head past kMaxHead, complete or not.
    std::string big = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(MetricsServer::kMaxHead, 'a') + "\r\n\r\n";
    CHECK(one(f.port, big).status == 431);
    CHECK(one(f.port, big.substr(0, big.size() - 4)).status == 431);
    CHECK(f.scrapes == 0);
    // Bare LF line ends are read too.
    CHECK(one(f.port, "GET /metrics HTTP/1.1\nHost: x\n\n").status == 200);
}

TEST_CASE("metrics server: keep-alive, pipelining, HTTP/1.0") {
    Fixture f;
    int fd = connect_tcp(f.port);
    std::string buffer;
    for (int i = 0; i < 3; ++i) {
        send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
        Answer a = read_answer(fd, buffer);
        CHECK(a.status == 200);
        CHECK(a.body == kBody);
    }
    // Three requests in one write: answered in order, then closed as asked.
    send_all(fd,
             "GET /metrics HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\nHEAD /metrics HTTP/1.1\r\n\r\n"
             "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(read_answer(fd, buffer).status == 200);
    CHECK(read_answer(fd, buffer).status == 404);
    Answer head = read_answer(fd, buffer, true);
    CHECK(head.status == 200);
    Answer last = read_answer(fd, buffer);
    CHECK(last.status == 200);
    CHECK(last.body == kBody);
    CHECK(last.head.find("Connection: close\r\n") != std::string::npos);
    CHECK(buffer.empty());
    CHECK(closed_by_server(fd));
    close(fd);

    fd = connect_tcp(f.port);
    send_all(fd, "GET /metrics HTTP/1.0\r\n\r\n");
    std::string all = read_to_close(fd);
    close(fd);
    CHECK(all.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(all.find("Connection: close\r\n") != std::string::npos);

    fd = connect_tcp(f.port);
    send_all(fd, "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    buffer.clear();
    Answer a = read_answer(fd, buffer);
    CHECK(a.head.find("Connection: keep-alive\r\n") != std::string::npos);
    send_all(fd, "GET /metrics HTTP/1.0\r\n\r\n");
    CHECK(read_answer(fd, buffer).status == 200);
    CHECK(closed_by_server(fd));
    close(fd);
}

TEST_CASE("metrics server: concurrent scrapes") {
    Fixture f;
    std::vector<int> fds;
    for (int i = 0; i < 20; ++i) fds.push_back(connect_tcp(f.port));
    for (int fd : fds) send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
    for (int fd : fds) {
        std::string buffer;
        Answer a = read_answer(fd, buffer);
        CHECK(a.status == 200);
        CHECK(a.body == kBody);
        close(fd);
    }
    CHECK(f.scrapes == 20);
}

TEST_CASE("metrics server: at most kMaxConnections; the oldest idle one makes room") {
    Fixture f;
    std::vector<int> fds;
    for (size_t i = 0; i < MetricsServer::kMaxConnections; ++i) fds.push_back(connect_tcp(f.port));
    // All accepted (a scrape on the last one proves the loop got that far).
    std::string buffer;
    send_all(fds.back(), "GET /metrics HTTP/1.1\r\n\r\n");
    CHECK(read_answer(fds.back(), buffer).status == 200);
    int extra = connect_tcp(f.port);
    CHECK(closed_by_server(fds[0]));
    send_all(extra, "GET /metrics HTTP/1.1\r\n\r\n");
    buffer.clear();
    CHECK(read_answer(extra, buffer).status == 200);
    close(extra);
    for (int fd : fds) close(fd);
}

TEST_CASE("metrics server: a unix socket") {
    char dir[] = "/tmp/agd-metrics-sock-XXXXXX";
    REQUIRE(mkdtemp(dir));
    std::string path = std::string(dir) + "/m.sock";
    config::ListenAddr a;
    a.kind = config::ListenAddr::Kind::Unix;
    a.path = path;
    a.text = "unix:" + path;
    {
        Fixture f({a});
        CHECK(f.server->bound()[0] == "unix:" + path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, path.c_str(), path.size());
        REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0);
        send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
        std::string buffer;
        CHECK(read_answer(fd, buffer).body == kBody);
        close(fd);
    }
    CHECK(access(path.c_str(), F_OK) != 0);  // unlinked
    rmdir(dir);
}

TEST_CASE("metrics server: an address in use is an error, not a crash") {
    Fixture f;
    config::ListenAddr a = Fixture::tcp();
    a.port = static_cast<uint16_t>(f.port);
    a.text = "127.0.0.1:" + std::to_string(f.port);
    event_base* base = event_base_new();
    auto s = MetricsServer::listen(base, {a}, [](MetricsServer::Respond) {});
    CHECK_FALSE(s.ok());
    if (!s.ok()) CHECK(s.error().message.find("metrics: cannot bind 127.0.0.1:") == 0);
    event_base_free(base);
}
