// H1Engine against a scripted HTTP/1.1 server running on the same event
// loop: answers, connection reuse, a pooled connection closed by the server,
// back-pressure, failures, and the request it writes.
#include <doctest/doctest.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "upstream/h1_engine.h"

using namespace agd::upstream;

namespace {

// One scripted answer: the bytes to send, in pieces written on separate loop
// turns, then optionally close. hangup: close without answering.
struct Answer {
    std::vector<std::string> pieces;
    bool close_after = false;
    bool hangup = false;
    bool silent = false;  // read the request, never answer
};

Answer ok_answer(const std::string& body, const std::string& extra_headers = "") {
    return Answer{{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + extra_headers +
                   "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body}};
}

class Server {
public:
    explicit Server(event_base* base) : base_(base) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        lis_ = evconnlistener_new_bind(base, &Server::on_accept, this, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                       reinterpret_cast<sockaddr*>(&sin), sizeof sin);
        REQUIRE(lis_);
        sockaddr_in bound{};
        socklen_t len = sizeof bound;
        getsockname(evconnlistener_get_fd(lis_), reinterpret_cast<sockaddr*>(&bound), &len);
        port = ntohs(bound.sin_port);
    }
    ~Server() {
        for (auto& c : conns_)
            if (c->bev) drop(c.get());
        evconnlistener_free(lis_);
    }

    std::string url(const std::string& path = "/v1/x") const { return "http://127.0.0.1:" + std::to_string(port) + path; }

    int port = 0;
    int accepts = 0;
    std::deque<Answer> script;
    std::vector<std::string> requests;  // head + body of each request received

private:
    struct Conn {
        Server* server;
        bufferevent* bev;
        std::string in;
        std::deque<std::string> out;  // pieces still to write
        bool close_after = false;
        event* tick = nullptr;
    };

    static void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
        auto* self = static_cast<Server*>(arg);
        ++self->accepts;
        auto c = std::make_unique<Conn>();
        c->server = self;
        c->bev = bufferevent_socket_new(self->base_, fd, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(c->bev, &Server::on_read, nullptr, &Server::on_event, c.get());
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        self->conns_.push_back(std::move(c));
    }

    static void drop(Conn* c) {
        if (c->tick) event_free(c->tick);
        c->tick = nullptr;
        bufferevent_free(c->bev);
        c->bev = nullptr;
    }

    static void on_event(bufferevent*, short what, void* arg) {
        if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) drop(static_cast<Conn*>(arg));
    }

    static void on_read(bufferevent* bev, void* arg) {
        auto* c = static_cast<Conn*>(arg);
        evbuffer* in = bufferevent_get_input(bev);
        size_t n = evbuffer_get_length(in);
        std::string chunk(n, '\0');
        evbuffer_remove(in, chunk.data(), n);
        c->in += chunk;
        for (;;) {
            size_t end = c->in.find("\r\n\r\n");
            if (end == std::string::npos) return;
            size_t body = 0;
            size_t cl = c->in.find("Content-Length: ");
            if (cl != std::string::npos && cl < end) body = std::stoul(c->in.substr(cl + 16));
            if (c->in.size() < end + 4 + body) return;
            c->server->requests.push_back(c->in.substr(0, end + 4 + body));
            c->in.erase(0, end + 4 + body);
            REQUIRE(!c->server->script.empty());
            Answer a = c->server->script.front();
            c->server->script.pop_front();
            if (a.hangup) return drop(c);
            if (a.silent) continue;
            for (auto& p : a.pieces) c->out.push_back(p);
            c->close_after = a.close_after;
            write_next(c);
            if (!c->bev) return;
        }
    }

    // One piece now, the rest on later loop turns (separate reads for the client).
    static void write_next(Conn* c) {
        if (c->out.empty()) {
            if (c->close_after) {
                bufferevent_setcb(c->bev, nullptr, &Server::on_flushed, nullptr, c);
                bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
                if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) drop(c);
            }
            return;
        }
        std::string p = std::move(c->out.front());
        c->out.pop_front();
        bufferevent_write(c->bev, p.data(), p.size());
        if (c->out.empty() && !c->close_after) return;
        if (!c->tick) c->tick = evtimer_new(bufferevent_get_base(c->bev), &Server::on_tick, c);
        timeval tv{0, 2000};
        evtimer_add(c->tick, &tv);
    }
    static void on_tick(int, short, void* arg) { write_next(static_cast<Conn*>(arg)); }
    static void on_flushed(bufferevent*, void* arg) { drop(static_cast<Conn*>(arg)); }

    event_base* base_;
    evconnlistener* lis_ = nullptr;
    std::vector<std::unique_ptr<Conn>> conns_;
};

struct Recorder : Listener {
    long status = 0;
    HeaderList headers;
    std::string body;
    bool done = false;
    Outcome outcome = Outcome::Other;
    std::string message;
    int pause_next = 0;  // on_body calls to answer with kPause
    int paused = 0;
    bool refuse = false;
    std::function<void()> then;  // run from on_done

    void on_headers(long s, HeaderList&& h) override {
        status = s;
        headers = std::move(h);
    }
    size_t on_body(const char* data, size_t len) override {
        if (pause_next > 0) {
            --pause_next;
            ++paused;
            return kPause;
        }
        if (refuse) return kAbort;
        body.append(data, len);
        return len;
    }
    void on_done(Outcome o, std::string_view m) override {
        done = true;
        outcome = o;
        message = std::string(m);
        if (then) then();
    }
    std::string header(const std::string& name) const {
        for (const auto& [n, v] : headers)
            if (n == name) return v;
        return {};
    }
};

// Host-name lookups answer from another thread, as in the daemon.
event_base* new_base() {
    static const int threads = evthread_use_pthreads();
    (void)threads;
    return event_base_new();
}

struct Loop {
    event_base* base = new_base();
    ~Loop() { event_base_free(base); }
    // Runs the loop until cond() holds; gives up after many turns (a hang is a failure, not a wait).
    bool until(const std::function<bool()>& cond) {
        for (int i = 0; i < 200000 && !cond(); ++i) event_base_loop(base, EVLOOP_ONCE);
        return cond();
    }
};

// body must outlive the transfer: a literal, or a string the test keeps.
Request post(const std::string& url, std::string_view body) {
    Request r;
    r.url = url;
    r.headers = {"Content-Type: application/json", "Authorization: Bearer sk-test"};
    r.body = body.data();
    r.body_len = body.size();
    r.connect_timeout = std::chrono::milliseconds(2000);
    r.idle_timeout = std::chrono::milliseconds(5000);
    return r;
}

Transfer* start(H1Engine& e, const Request& r, Listener* l) {
    bool declined = true;
    Transfer* t = e.start(r, l, declined);
    REQUIRE_FALSE(declined);
    REQUIRE(t);
    return t;
}

}  // namespace

TEST_CASE("h1 engine: a small answer, the request it writes, and the connection pooled") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    srv.script.push_back(ok_answer("hello", "X-Request-Id: r1\r\n"));
    std::string body = R"({"model":"m"})";
    Recorder rec;
    start(engine, post(srv.url("/v1/chat/completions"), body), &rec);
    CHECK_FALSE(rec.done);  // never inside start()
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::Ok);
    CHECK(rec.status == 200);
    CHECK(rec.body == "hello");
    CHECK(rec.header("x-request-id") == "r1");
    CHECK(rec.header("content-type") == "text/plain");
    REQUIRE(srv.requests.size() == 1);
    const std::string& req = srv.requests[0];
    CHECK(req.rfind("POST /v1/chat/completions HTTP/1.1\r\n", 0) == 0);
    CHECK(req.find("\r\nHost: 127.0.0.1:" + std::to_string(srv.port) + "\r\n") != std::string::npos);
    CHECK(req.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
    CHECK(req.find("\r\nAuthorization: Bearer sk-test\r\n") != std::string::npos);
    CHECK(req.substr(req.size() - body.size()) == body);
    CHECK(engine.idle_connections() == 1);
    CHECK(engine.active() == 0);
}

TEST_CASE("h1 engine: sequential requests share one kept-alive connection") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    std::string body = "{}";
    for (int i = 0; i < 5; ++i) {
        srv.script.push_back(ok_answer("n" + std::to_string(i)));
        Recorder rec;
        start(engine, post(srv.url(), body), &rec);
        REQUIRE(loop.until([&] { return rec.done; }));
        CHECK(rec.outcome == Outcome::Ok);
        CHECK(rec.body == "n" + std::to_string(i));
    }
    CHECK(srv.accepts == 1);
    CHECK(engine.idle_connections() == 1);
}

TEST_CASE("h1 engine: a pooled connection the server closed is replaced, and the request sent again") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    std::string body = "{}";
    srv.script.push_back(ok_answer("first"));
    srv.script.push_back(Answer{{}, false, true});  // the reused connection: hang up on the request
    srv.script.push_back(ok_answer("second"));
    Recorder second;
    Recorder first;
    // Started from on_done, before the loop could notice anything: it takes the pooled connection.
    first.then = [&] { start(engine, post(srv.url(), body), &second); };
    start(engine, post(srv.url(), body), &first);
    REQUIRE(loop.until([&] { return second.done; }));
    CHECK(first.body == "first");
    CHECK(second.outcome == Outcome::Ok);
    CHECK(second.body == "second");
    CHECK(srv.accepts == 2);
    CHECK(srv.requests.size() == 3);
}

TEST_CASE("h1 engine: a fresh connection that closes without an answer is not retried") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    srv.script.push_back(Answer{{}, false, true});
    Recorder rec;
    start(engine, post(srv.url(), "{}"), &rec);
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::Reset);
    CHECK(rec.message.find("empty reply") != std::string::npos);
    CHECK(srv.requests.size() == 1);
    CHECK(engine.idle_connections() == 0);
}

TEST_CASE("h1 engine: chunked answer in pieces, and Connection: close is honoured") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    srv.script.push_back(Answer{{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhel",
                                 "lo\r\n6;ext=1\r\n world\r\n", "0\r\nX-Trailer: t\r\n\r\n"},
                                true});
    srv.script.push_back(ok_answer("again"));
    Recorder rec;
    start(engine, post(srv.url(), "{}"), &rec);
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::Ok);
    CHECK(rec.body == "hello world");
    CHECK(engine.idle_connections() == 0);
    Recorder rec2;
    start(engine, post(srv.url(), "{}"), &rec2);
    REQUIRE(loop.until([&] { return rec2.done; }));
    CHECK(rec2.body == "again");
    CHECK(srv.accepts == 2);
}

TEST_CASE("h1 engine: bytes sent right behind a complete answer close the connection") {
    for (size_t size : {5u, 65000u, 65400u}) {
        INFO("body of " << size);
        Loop loop;
        Server srv(loop.base);
        H1Engine engine(loop.base);
        std::string body(size, 'b');
        Answer a = ok_answer(body);
        a.pieces[0] += "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray";  // one write: the answer and more
        srv.script.push_back(a);
        srv.script.push_back(ok_answer("second"));
        Recorder first;
        start(engine, post(srv.url(), "{}"), &first);
        REQUIRE(loop.until([&] { return first.done; }));
        CHECK(first.outcome == Outcome::Ok);
        CHECK(first.body.size() == size);
        CHECK(engine.idle_connections() == 0);
        Recorder second;
        start(engine, post(srv.url(), "{}"), &second);
        REQUIRE(loop.until([&] { return second.done; }));
        CHECK(second.body == "second");
        CHECK(srv.accepts == 2);
    }
}

TEST_CASE("h1 engine: a body delimited by the close") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    srv.script.push_back(Answer{{"HTTP/1.1 200 OK\r\n\r\npart one,", " part two"}, true});
    Recorder rec;
    start(engine, post(srv.url(), "{}"), &rec);
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::Ok);
    CHECK(rec.body == "part one, part two");
    CHECK(engine.idle_connections() == 0);
}

TEST_CASE("h1 engine: an answer cut short is a reset, not a success") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    srv.script.push_back(Answer{{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"}, true});
    Recorder rec;
    start(engine, post(srv.url(), "{}"), &rec);
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::Reset);
    CHECK(rec.body == "only this");
    CHECK(rec.message.find("before the answer was complete") != std::string::npos);
}

TEST_CASE("h1 engine: a paused listener gets the same bytes again after resume, from the loop") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    srv.script.push_back(Answer{{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcde", "fghij"}});
    Recorder rec;
    rec.pause_next = 1;
    Transfer* t = start(engine, post(srv.url(), "{}"), &rec);
    REQUIRE(loop.until([&] { return rec.paused == 1; }));
    CHECK(t->paused());
    CHECK(rec.body.empty());
    // While paused nothing is delivered, even when more bytes arrive.
    for (int i = 0; i < 50; ++i) event_base_loop(loop.base, EVLOOP_NONBLOCK);
    CHECK(rec.body.empty());
    t->resume();
    CHECK(rec.body.empty());  // delivery comes from the loop, not from inside resume()
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::Ok);
    CHECK(rec.body == "abcdefghij");
    CHECK(engine.idle_connections() == 1);
}

TEST_CASE("h1 engine: a listener that refuses the body aborts the transfer") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    srv.script.push_back(ok_answer("refused"));
    Recorder rec;
    rec.refuse = true;
    start(engine, post(srv.url(), "{}"), &rec);
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::Aborted);
    CHECK(engine.idle_connections() == 0);
}

TEST_CASE("h1 engine: connection refused is reported from the loop") {
    Loop loop;
    H1Engine engine(loop.base);
    int port;
    {
        Server gone(loop.base);  // a port that was free a moment ago
        port = gone.port;
    }
    Recorder rec;
    start(engine, post("http://127.0.0.1:" + std::to_string(port) + "/v1/x", "{}"), &rec);
    CHECK_FALSE(rec.done);
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::ConnectFailed);
    CHECK(rec.message.find("127.0.0.1 port " + std::to_string(port)) != std::string::npos);
}

TEST_CASE("h1 engine: no byte for idle_timeout is a timeout") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    srv.script.push_back(Answer{{}, false, false, true});
    Recorder rec;
    Request r = post(srv.url(), "{}");
    r.idle_timeout = std::chrono::milliseconds(30);
    start(engine, r, &rec);
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::Timeout);
    CHECK(rec.message.find("no data from upstream") != std::string::npos);
}

TEST_CASE("h1 engine: cancel mid-answer calls nothing and drops the connection") {
    Loop loop;
    Server srv(loop.base);
    H1Engine engine(loop.base);
    srv.script.push_back(Answer{{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "defghij"}});
    Recorder rec;
    Transfer* t = start(engine, post(srv.url(), "{}"), &rec);
    REQUIRE(loop.until([&] { return !rec.body.empty(); }));
    t->cancel();
    for (int i = 0; i < 20; ++i) event_base_loop(loop.base, EVLOOP_NONBLOCK);
    CHECK_FALSE(rec.done);
    CHECK(engine.active() == 0);
    CHECK(engine.idle_connections() == 0);
}

TEST_CASE("h1 engine: what it leaves to libcurl") {
    Loop loop;
    H1Engine engine(loop.base);
    Recorder rec;
    auto declined = [&](Request r) {
        bool d = false;
        Transfer* t = engine.start(r, &rec, d);
        return d && t == nullptr;
    };
    CHECK(declined(post("https://127.0.0.1:1/v1", "{}")));
    Request proxied = post("http://127.0.0.1:1/v1", "{}");
    proxied.proxy = "http://127.0.0.1:3128";
    CHECK(declined(proxied));
    Request forced = post("http://127.0.0.1:1/v1", "{}");
    forced.native_ok = false;
    CHECK(declined(forced));
    CHECK(declined(post("http://user:pw@127.0.0.1:1/v1", "{}")));
    // A name is left to libcurl until the asynchronous lookup has answered.
    CHECK(declined(post("http://name.invalid:1/v1", "{}")));
}

TEST_CASE("h1 engine: a host name goes to libcurl until its lookup answers, then is served natively") {
    Loop loop;
    Server srv(loop.base);  // 127.0.0.1 only: an ::1 answer first is refused, then the next address is tried
    H1Engine engine(loop.base);
    srv.script.push_back(ok_answer("local"));
    Recorder rec;
    std::string url = "http://localhost:" + std::to_string(srv.port) + "/v1/x";
    bool declined = false;
    CHECK(engine.start(post(url, "{}"), &rec, declined) == nullptr);
    CHECK(declined);  // the lookup runs on its own thread meanwhile
    Transfer* t = nullptr;
    REQUIRE(loop.until([&] {
        if (t) return true;
        declined = false;
        t = engine.start(post(url, "{}"), &rec, declined);
        return !declined;
    }));
    REQUIRE(t);
    REQUIRE(loop.until([&] { return rec.done; }));
    CHECK(rec.outcome == Outcome::Ok);
    CHECK(rec.body == "local");
    REQUIRE(srv.requests.size() == 1);
    CHECK(srv.requests[0].find("\r\nHost: localhost:" + std::to_string(srv.port) + "\r\n") != std::string::npos);
}
