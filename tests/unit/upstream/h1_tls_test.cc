// H1Engine over TLS against a scripted TLS server on the same event loop
// (tls_server.h): the server's OpenSSL runs on memory BIOs and its
// ciphertext reaches the socket in pieces the test chooses, one per loop
// turn, so the engine's reads cut the TLS records exactly where a case
// wants. Covered: answers of every framing under many cuts, back-pressure
// with bytes held inside OpenSSL, session resumption, certificate checks,
// failed and stalled handshakes, what a pooled connection may receive while
// idle, a pooled connection closed by the server, names and addresses.
#include <doctest/doctest.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_pki.h"
#include "tls_server.h"
#include "upstream/h1_engine.h"
#include "upstream/tls_context.h"

using namespace agd::upstream;
using namespace agd::testpki;
using namespace agd::testtls;

namespace {

event_base* new_base() {
    static const int threads = evthread_use_pthreads();  // host-name lookups answer from another thread
    (void)threads;
    return event_base_new();
}

struct Loop {
    event_base* base = new_base();
    ~Loop() { event_base_free(base); }
    Loop() = default;
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    // Runs the loop until cond() holds. A safety timer stops a hang after
    // `seconds` (the test then fails); no case waits on it normally.
    bool until(const std::function<bool()>& cond, int seconds = 30) {
        bool expired = false;
        event* guard = evtimer_new(
            base, [](int, short, void* p) { *static_cast<bool*>(p) = true; }, &expired);
        timeval tv{seconds, 0};
        evtimer_add(guard, &tv);
        while (!cond() && !expired) event_base_loop(base, EVLOOP_ONCE);
        event_free(guard);
        return cond();
    }
    // until() for a condition no event of the loop announces (bytes
    // reaching a socket nobody reads): looked at again every millisecond.
    bool until_polled(const std::function<bool()>& cond, int seconds = 30) {
        event* tick = event_new(
            base, -1, EV_PERSIST, [](int, short, void*) {}, nullptr);
        timeval ms{0, 1000};
        event_add(tick, &ms);
        bool ok = until(cond, seconds);
        event_free(tick);
        return ok;
    }
    // A few turns without waiting: whatever is ready now runs.
    void turns(int n) {
        for (int i = 0; i < n; ++i) event_base_loop(base, EVLOOP_NONBLOCK);
    }
};

// The listener: records the answer; can pause (kPause) on chosen body calls
// and resume itself from a timer on a later loop turn.
struct Recorder : Listener {
    long status = 0;
    HeaderList headers;
    std::string body;
    bool done = false;
    Outcome outcome = Outcome::Other;
    std::string message;
    int body_calls = 0;
    int paused = 0;
    std::function<bool(int call)> pause_on;  // call numbers from 1
    Transfer* transfer = nullptr;            // for the resume timer
    event* resume_timer = nullptr;           // set: resume from it after each pause
    std::function<void()> then;              // run from on_done

    ~Recorder() override {
        if (resume_timer) event_free(resume_timer);
    }
    void resume_from_loop(event_base* base) {
        resume_timer = evtimer_new(
            base, [](int, short, void* p) { static_cast<Recorder*>(p)->transfer->resume(); }, this);
    }
    void on_headers(long s, HeaderList&& h) override {
        status = s;
        headers = std::move(h);
    }
    size_t on_body(const char* data, size_t len) override {
        ++body_calls;
        if (pause_on && pause_on(body_calls)) {
            ++paused;
            if (resume_timer) {
                timeval zero{0, 0};
                evtimer_add(resume_timer, &zero);
            }
            return kPause;
        }
        body.append(data, len);
        return len;
    }
    void on_done(Outcome o, std::string_view m) override {
        done = true;
        outcome = o;
        message = std::string(m);
        if (then) then();
    }
};

const char* outcome_name(Outcome o) {
    switch (o) {
        case Outcome::Ok: return "Ok";
        case Outcome::ConnectFailed: return "ConnectFailed";
        case Outcome::Timeout: return "Timeout";
        case Outcome::Reset: return "Reset";
        case Outcome::Aborted: return "Aborted";
        case Outcome::Other: return "Other";
    }
    return "?";
}

// A CA of the test's own, trusted through a ca_file, and the context for it.
struct Pki {
    Identity ca;
    TempFile ca_file;
    std::shared_ptr<const TlsContext> tls;
    explicit Pki(const std::string& name = "agd test CA") : ca(make_ca(name)), ca_file(pem(ca.cert.get())) {
        std::string error;
        tls = TlsContext::get(ca_file.path(), error);
        REQUIRE_MESSAGE(tls, error);
    }
    Identity leaf(const LeafSpec& spec = {}) const { return make_leaf(ca, spec); }

    // OpenSSL 3.0's read-ahead reads at most its record buffer (about 17 KB)
    // for a record header and then only the rest of that record: one wakeup
    // of the engine takes about two full records, and its 64 KiB buffer
    // never fills. With a larger OpenSSL buffer (this context only: the CA
    // file, hence the context, is the test's own) one read takes far more,
    // the engine's buffer fills while OpenSSL still holds whole records, and
    // the engine's paths for those run.
    void large_read_buffer() { SSL_CTX_set_default_read_buffer_len(tls->ctx(), 256 * 1024); }
};

Request post(const std::string& url, const TlsContext* tls, std::string_view body = "{}") {
    Request r;
    r.url = url;
    r.headers = {"Content-Type: application/json", "Authorization: Bearer sk-test"};
    r.body = body.data();
    r.body_len = body.size();
    r.tls = tls;
    r.connect_timeout = std::chrono::milliseconds(5000);
    r.idle_timeout = std::chrono::milliseconds(20000);
    return r;
}

Transfer* start(H1Engine& e, const Request& r, Recorder* l) {
    bool declined = true;
    Transfer* t = e.start(r, l, declined);
    REQUIRE_FALSE(declined);
    REQUIRE(t);
    l->transfer = t;
    return t;
}

// A host name: declined (libcurl's) until the engine's lookup has answered.
Transfer* start_named(Loop& loop, H1Engine& e, const Request& r, Recorder* l) {
    Transfer* t = nullptr;
    bool declined = true;
    REQUIRE(loop.until([&] {
        if (declined) t = e.start(r, l, declined);
        return !declined;
    }));
    REQUIRE(t);
    l->transfer = t;
    return t;
}

// Bytes that tell a misplaced or lost piece from the right one.
std::string text(size_t n, unsigned seed = 0) {
    static const char kAlpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s(n, ' ');
    for (size_t i = 0; i < n; ++i) s[i] = kAlpha[(i * 31 + i / 97 + seed * 7) % 36];
    return s;
}

// Plaintext cut into records of `size` bytes.
std::vector<std::string> in_records(const std::string& s, size_t size) {
    std::vector<std::string> out;
    for (size_t i = 0; i < s.size(); i += size) out.push_back(s.substr(i, size));
    return out;
}

// The kinds of answer the split table runs.
struct Kind {
    const char* name;
    size_t size;
    bool keep_alive;
    std::function<Reply(const std::string& body)> reply;
};

const std::vector<Kind>& kinds() {
    static const std::vector<Kind> k = {
        {"content-length", 3000, true, [](const std::string& b) { return answer(b, "X-Request-Id: r\r\n"); }},
        {"chunked", 2000, true,
         [](const std::string& b) {
             std::string s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
             size_t sizes[] = {1, 10, 500, 1, 300};
             size_t pos = 0;
             for (size_t i = 0; pos < b.size(); ++i) {
                 size_t n = std::min(i < 5 ? sizes[i] : b.size(), b.size() - pos);
                 char hex[16];
                 std::snprintf(hex, sizeof hex, "%zx", n);
                 s += std::string(hex) + (i == 2 ? ";ext=1" : "") + "\r\n" + b.substr(pos, n) + "\r\n";
                 pos += n;
             }
             s += "0\r\nX-Trailer: t\r\n\r\n";
             Reply r;
             r.records = in_records(s, 333);  // records end inside chunk sizes and data alike
             return r;
         }},
        {"close-delimited, close_notify", 2500, false,
         [](const std::string& b) {
             Reply r;
             r.records = {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", b.substr(0, 1000), b.substr(1000)};
             r.close_notify = true;
             r.close_after = true;
             return r;
         }},
        {"close-delimited, TCP close only", 2500, false,
         [](const std::string& b) {
             Reply r;
             r.records = {"HTTP/1.1 200 OK\r\n\r\n" + b.substr(0, 10), b.substr(10)};
             r.close_after = true;
             return r;
         }},
        {"Connection: close and close_notify", 1200, false,
         [](const std::string& b) {
             Reply r = answer(b, "Connection: close\r\n");
             r.close_notify = true;
             r.close_after = true;
             return r;
         }},
        {"larger than the engine's read buffer", 150000, true, [](const std::string& b) { return answer(b); }},
        {"many small records", 2700, true,
         [](const std::string& b) {
             Reply r;
             r.records = {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n"};
             for (std::string& p : in_records(b, 9)) r.records.push_back(std::move(p));
             return r;
         }},
        {"a session ticket after the answer", 1500, true,
         [](const std::string& b) {
             Reply r = answer(b);
             r.ticket_after = true;
             return r;
         }},
    };
    return k;
}

struct SplitCase {
    std::string name;
    std::function<Split()> make;  // a fresh one per server (random_cut keeps a state)
    bool small_pieces;            // too many loop turns for a large answer
};

std::vector<SplitCase> split_cases() {
    std::vector<SplitCase> s;
    s.push_back({"whole", [] { return whole(); }, false});
    for (size_t n : {1, 2, 3, 4, 5, 7, 13}) s.push_back({"every " + std::to_string(n), [n] { return every(n); }, true});
    for (size_t n : {64, 1000, 4096, 16389})
        s.push_back({"every " + std::to_string(n), [n] { return every(n); }, false});
    for (size_t k : {1, 2, 3}) s.push_back({std::to_string(k) + " records a piece", [k] { return records(k); }, false});
    for (size_t at : {1, 2, 3, 4})
        s.push_back({"cut after " + std::to_string(at) + " header bytes", [at] { return header_cut(at); }, false});
    for (uint32_t seed : {1u, 2u, 3u, 4u})
        s.push_back({"random up to 40, seed " + std::to_string(seed), [seed] { return random_cut(seed, 40); }, true});
    for (uint32_t seed : {5u, 6u, 7u})
        s.push_back(
            {"random up to 3000, seed " + std::to_string(seed), [seed] { return random_cut(seed, 3000); }, false});
    return s;
}

// Two requests, one after the other, on a server whose every write (the
// handshake included) is cut by the split: exact bodies, one connection
// when the answers keep it, a resumed session on the second otherwise.
void run_split(const Pki& pki, const Identity& leaf, int max_version, const Kind& kind, const SplitCase& sc) {
    INFO("answer: " << std::string(kind.name) << "; pieces: " << sc.name << "; max version " << max_version);
    Loop loop;
    TlsServer::Options opt;
    opt.max_version = max_version;
    TlsServer srv(loop.base, leaf, opt);
    srv.split = sc.make();
    H1Engine engine(loop.base);
    for (unsigned round = 0; round < 2; ++round) {
        std::string body = text(kind.size, round);
        srv.script.push_back(kind.reply(body));
        Recorder rec;
        start(engine, post(srv.url(), pki.tls.get()), &rec);
        REQUIRE(loop.until([&] { return rec.done; }));
        INFO("round " << round << ": " << rec.message);
        CHECK(outcome_name(rec.outcome) == std::string("Ok"));
        CHECK(rec.status == 200);
        bool same = rec.body == body;
        CHECK_MESSAGE(same, "got " << rec.body.size() << " bytes of " << body.size());
        CHECK(engine.idle_connections() == (kind.keep_alive ? 1u : 0u));
        CHECK(engine.tls_sessions() == 1);
        CHECK(engine.active() == 0);
    }
    CHECK(srv.requests.size() == 2);
    CHECK(srv.accepts == (kind.keep_alive ? 1 : 2));
    if (!kind.keep_alive && srv.conns() == 2) CHECK(srv.conn(1).reused);  // a quiet close keeps the session
    CHECK(srv.script_missing == 0);
}

// The connection the engine holds toward a server connection: bytes the
// kernel has for it that nobody read yet.
int unread_bytes(const TlsServer& srv, size_t conn) {
    int fd = srv.client_fd(conn);
    REQUIRE(fd >= 0);
    int n = -1;
    REQUIRE(ioctl(fd, FIONREAD, &n) == 0);
    return n;
}

}  // namespace

TEST_CASE("h1 tls: every answer framing under every cut of the records (TLS 1.3)") {
    Pki pki;
    Identity leaf = pki.leaf();
    for (const Kind& kind : kinds())
        for (const SplitCase& sc : split_cases()) {
            if (sc.small_pieces && kind.size > 100000) continue;
            run_split(pki, leaf, 0, kind, sc);
        }
}

TEST_CASE("h1 tls: every answer framing under cuts, OpenSSL reading far ahead (engine buffer fills)") {
    Pki pki;
    pki.large_read_buffer();
    Identity leaf = pki.leaf();
    for (const Kind& kind : kinds())
        for (const SplitCase& sc : split_cases()) {
            if (sc.small_pieces && kind.size > 100000) continue;
            run_split(pki, leaf, 0, kind, sc);
        }
}

TEST_CASE("h1 tls: answers under cuts of the records (TLS 1.2)") {
    Pki pki;
    Identity leaf = pki.leaf();
    for (const Kind& kind : kinds()) {
        if (std::string(kind.name).find("ticket") != std::string::npos) continue;  // TLS 1.3 only
        for (const SplitCase& sc : split_cases()) {
            if (sc.small_pieces && kind.size > 100000) continue;
            run_split(pki, leaf, TLS1_2_VERSION, kind, sc);
        }
    }
}

TEST_CASE("h1 tls: a long pseudo-random sequence of cuts over many requests on one connection") {
    Pki pki;
    Identity leaf = pki.leaf();
    Loop loop;
    TlsServer srv(loop.base, leaf);
    srv.split = random_cut(20261204, 70);
    H1Engine engine(loop.base);
    for (unsigned i = 0; i < 60; ++i) {
        const Kind& kind = kinds()[i % kinds().size()];
        if (!kind.keep_alive || kind.size > 100000) continue;
        std::string body = text(kind.size / 3 + i * 11, i);
        srv.script.push_back(kind.reply(body));
        Recorder rec;
        start(engine, post(srv.url(), pki.tls.get()), &rec);
        REQUIRE(loop.until([&] { return rec.done; }));
        INFO("request " << i << " (" << std::string(kind.name) << "): " << rec.message);
        CHECK(rec.outcome == Outcome::Ok);
        bool same = rec.body == body;
        CHECK(same);
    }
    CHECK(srv.accepts == 1);
    CHECK(engine.idle_connections() == 1);
}

TEST_CASE("h1 tls: a paused answer resumes from bytes held inside OpenSSL, with no new socket data") {
    Pki pki;
    pki.large_read_buffer();
    Identity leaf = pki.leaf();
    int held_in_openssl = 0;
    for (size_t size : {100u, 30000u, 65000u, 65536u, 66000u, 70000u, 80000u, 90000u}) {
        INFO("body of " << size);
        Loop loop;
        TlsServer::Options opt;
        opt.num_tickets = 0;  // nothing on the connection but the answer
        TlsServer srv(loop.base, leaf, opt);
        H1Engine engine(loop.base);
        Reply later;  // answered from the test below
        later.silent = true;
        srv.script.push_back(later);
        std::string body = text(size, 3);
        Recorder rec;
        rec.pause_on = [](int call) { return call == 1; };
        Transfer* t = start(engine, post(srv.url(), pki.tls.get()), &rec);
        REQUIRE(loop.until([&] { return srv.requests.size() == 1; }));
        // The whole answer in one piece, into the kernel before the engine
        // reads any of it (the transfer is paused meanwhile): its first read
        // then finds more than its buffer takes.
        t->pause();
        size_t before = srv.conn(0).bytes_out;
        Reply a = answer(body);
        srv.send_data(0, a.records[0]);
        REQUIRE(loop.until([&] { return srv.idle(); }));
        size_t sent = srv.conn(0).bytes_out - before;
        REQUIRE(loop.until_polled([&] { return unread_bytes(srv, 0) == static_cast<int>(sent); }));
        t->resume();
        REQUIRE(loop.until([&] { return rec.paused == 1; }));  // the listener's kPause on the first body bytes
        loop.turns(50);                                        // nothing is delivered while paused
        CHECK(t->paused());
        CHECK_FALSE(rec.done);
        CHECK(rec.body.empty());
        // The kernel has nothing left: what the engine's buffer could not
        // take waits inside OpenSSL, which no readiness event will announce.
        CHECK(unread_bytes(srv, 0) == 0);
        if (unread_bytes(srv, 0) == 0 && a.records[0].size() > H1Engine::kReadBuffer) ++held_in_openssl;
        size_t pieces = srv.conn(0).pieces_out;
        rec.resume_from_loop(loop.base);
        timeval zero{0, 0};
        evtimer_add(rec.resume_timer, &zero);
        REQUIRE(loop.until([&] { return rec.done; }));
        INFO(rec.message);
        CHECK(rec.outcome == Outcome::Ok);
        bool same = rec.body == body;
        CHECK_MESSAGE(same, "got " << rec.body.size() << " bytes of " << body.size());
        CHECK(srv.conn(0).pieces_out == pieces);  // nothing new was sent to wake the socket
        CHECK(engine.idle_connections() == 1);
    }
    CHECK(held_in_openssl == 5);  // the answers larger than the engine's buffer
}

TEST_CASE("h1 tls: the listener pauses on the first body bytes of an answer sent in one piece") {
    for (int run = 0; run < 10; ++run) {
        bool large = run >= 5;
        size_t size = std::vector<size_t>{100, 30000, 65536, 70000, 150000}[run % 5];
        INFO("body of " << size << std::string(large ? ", OpenSSL reading far ahead" : ""));
        Pki pki;
        if (large) pki.large_read_buffer();
        Identity leaf = pki.leaf();
        Loop loop;
        TlsServer srv(loop.base, leaf);
        H1Engine engine(loop.base);
        std::string body = text(size, 4);
        srv.script.push_back(answer(body));
        Recorder rec;
        rec.pause_on = [](int call) { return call == 1; };
        Transfer* t = start(engine, post(srv.url(), pki.tls.get()), &rec);
        REQUIRE(loop.until([&] { return rec.paused == 1; }));
        loop.turns(50);
        CHECK(t->paused());
        CHECK(rec.body.empty());
        rec.resume_from_loop(loop.base);
        timeval zero{0, 0};
        evtimer_add(rec.resume_timer, &zero);
        REQUIRE(loop.until([&] { return rec.done; }));
        INFO(rec.message);
        CHECK(rec.outcome == Outcome::Ok);
        bool same = rec.body == body;
        CHECK_MESSAGE(same, "got " << rec.body.size() << " bytes of " << body.size());
        CHECK(engine.idle_connections() == 1);
    }
}

TEST_CASE("h1 tls: pausing on every other body call, resumed from the loop, under cuts") {
    for (bool large : {false, true}) {
        Pki pki;
        if (large) pki.large_read_buffer();
        Identity leaf = pki.leaf();
        std::vector<SplitCase> cuts = {
            {"whole", [] { return whole(); }, false},
            {"every 7", [] { return every(7); }, true},
            {"2 records a piece", [] { return records(2); }, false},
            {"random up to 5000", [] { return random_cut(11, 5000); }, false},
        };
        for (const SplitCase& sc : cuts) {
            for (const Kind& kind : kinds()) {
                if (sc.small_pieces && kind.size > 100000) continue;
                INFO(std::string(kind.name)
                     << "; " << sc.name << std::string(large ? "; OpenSSL reading far ahead" : ""));
                Loop loop;
                TlsServer srv(loop.base, leaf);
                srv.split = sc.make();
                H1Engine engine(loop.base);
                std::string body = text(kind.size, 5);
                srv.script.push_back(kind.reply(body));
                Recorder rec;
                rec.resume_from_loop(loop.base);
                rec.pause_on = [](int call) { return call % 2 == 1; };
                start(engine, post(srv.url(), pki.tls.get()), &rec);
                REQUIRE(loop.until([&] { return rec.done; }));
                INFO(rec.message);
                CHECK(rec.outcome == Outcome::Ok);
                CHECK(rec.paused > 0);
                bool same = rec.body == body;
                CHECK_MESSAGE(same, "got " << rec.body.size() << " bytes of " << body.size());
                CHECK(engine.idle_connections() == (kind.keep_alive ? 1u : 0u));
            }
        }
    }
}

TEST_CASE("h1 tls: a new connection resumes the session of a closed one") {
    Pki pki;
    Identity leaf = pki.leaf();
    struct Variant {
        const char* name;
        int max_version;
        bool tickets;
        bool close_notify;
    };
    for (Variant v :
         {Variant{"TLS 1.3, close_notify", 0, true, true}, Variant{"TLS 1.3, TCP close only", 0, true, false},
          Variant{"TLS 1.2 ticket", TLS1_2_VERSION, true, true},
          Variant{"TLS 1.2 session id", TLS1_2_VERSION, false, true}}) {
        INFO(std::string(v.name));
        Loop loop;
        TlsServer::Options opt;
        opt.max_version = v.max_version;
        opt.tickets = v.tickets;
        TlsServer srv(loop.base, leaf, opt);
        H1Engine engine(loop.base);
        for (int i = 0; i < 3; ++i) {
            Reply r = answer("answer " + std::to_string(i), "Connection: close\r\n");
            r.close_notify = v.close_notify;
            r.close_after = true;
            srv.script.push_back(r);
            Recorder rec;
            start(engine, post(srv.url(), pki.tls.get()), &rec);
            REQUIRE(loop.until([&] { return rec.done; }));
            INFO(rec.message);
            CHECK(rec.outcome == Outcome::Ok);
            CHECK(rec.body == "answer " + std::to_string(i));
            CHECK(engine.idle_connections() == 0);
            CHECK(engine.tls_sessions() == 1);
        }
        REQUIRE(srv.conns() == 3);
        CHECK(srv.conn(0).version == (v.max_version ? TLS1_2_VERSION : TLS1_3_VERSION));
        CHECK_FALSE(srv.conn(0).reused);
        CHECK(srv.conn(1).reused);
        CHECK(srv.conn(2).reused);
    }
}

TEST_CASE("h1 tls: the session of a connection that failed is not resumed") {
    Pki pki;
    Identity leaf = pki.leaf();
    Loop loop;
    TlsServer srv(loop.base, leaf);
    H1Engine engine(loop.base);
    Reply cut;
    cut.records = {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"};
    cut.close_after = true;
    srv.script.push_back(cut);
    srv.script.push_back(answer("whole"));
    Recorder first;
    start(engine, post(srv.url(), pki.tls.get()), &first);
    REQUIRE(loop.until([&] { return first.done; }));
    CHECK(first.outcome == Outcome::Reset);
    CHECK(first.body == "only this");
    Recorder second;
    start(engine, post(srv.url(), pki.tls.get()), &second);
    REQUIRE(loop.until([&] { return second.done; }));
    CHECK(second.outcome == Outcome::Ok);
    CHECK(second.body == "whole");
    REQUIRE(srv.conns() == 2);
    CHECK_FALSE(srv.conn(1).reused);
}

TEST_CASE("h1 tls: certificate checks fail the connection before any request") {
    Pki pki;
    Pki other("another CA, not trusted");
    struct Variant {
        const char* name;
        Identity leaf;
        bool by_name;  // https://localhost rather than https://127.0.0.1
        const char* expect;
    };
    LeafSpec other_name;
    other_name.names = {"DNS:upstream.example", "IP:192.0.2.7"};
    LeafSpec expired;
    expired.not_before = -3 * 86400;
    expired.not_after = -86400;
    LeafSpec later;
    later.not_before = 86400;
    later.not_after = 2 * 86400;
    std::vector<Variant> variants;
    variants.push_back({"another host name, by name", pki.leaf(other_name), true, "hostname mismatch"});
    variants.push_back({"another host name, by address", pki.leaf(other_name), false, "IP address mismatch"});
    variants.push_back({"a CA not trusted", other.leaf(), false, "unable to get local issuer certificate"});
    variants.push_back({"expired", pki.leaf(expired), false, "certificate has expired"});
    variants.push_back({"not yet valid", pki.leaf(later), false, "certificate is not yet valid"});
    for (const Variant& v : variants) {
        INFO(std::string(v.name));
        Loop loop;
        TlsServer srv(loop.base, v.leaf);
        srv.script.push_back(answer("never"));
        H1Engine engine(loop.base);
        Recorder rec;
        Request r = post(srv.url(v.by_name ? "localhost" : "127.0.0.1"), pki.tls.get());
        if (v.by_name)
            start_named(loop, engine, r, &rec);
        else
            start(engine, r, &rec);
        REQUIRE(loop.until([&] { return rec.done; }));
        INFO(rec.message);
        CHECK(outcome_name(rec.outcome) == std::string("ConnectFailed"));
        CHECK(rec.message.find("TLS handshake with " + std::string(v.by_name ? "localhost" : "127.0.0.1") + " port " +
                               std::to_string(srv.port) + " failed") != std::string::npos);
        CHECK(rec.message.find(std::string("certificate verify failed: ") + v.expect) != std::string::npos);
        CHECK(srv.requests.empty());
        // The server hears why (an alert) or just the close.
        REQUIRE(loop.until([&] { return srv.conns() == 1 && srv.conn(0).closed; }));
        CHECK_FALSE(srv.conn(0).handshake_done);
        CHECK(engine.idle_connections() == 0);
        CHECK(engine.tls_sessions() == 0);
        CHECK(engine.active() == 0);
    }
}

TEST_CASE("h1 tls: a handshake the server breaks off, or a server that is not TLS") {
    Pki pki;
    Identity leaf = pki.leaf();
    struct Variant {
        const char* name;
        Handshake mode;
        Split split;
    };
    for (const Variant& v :
         {Variant{"closed after the ClientHello", Handshake::CloseOnHello, whole()},
          Variant{"closed after half a ServerHello", Handshake::HalfServerHello, whole()},
          Variant{"plain HTTP/1.1 behind https://", Handshake::PlainHttp, whole()},
          Variant{"plain HTTP/1.1 behind https://, a byte at a time", Handshake::PlainHttp, every(1)}}) {
        INFO(std::string(v.name));
        Loop loop;
        TlsServer srv(loop.base, leaf);
        srv.handshake = v.mode;
        srv.split = v.split;
        H1Engine engine(loop.base);
        Recorder rec;
        start(engine, post(srv.url(), pki.tls.get()), &rec);
        REQUIRE(loop.until([&] { return rec.done; }));
        MESSAGE(std::string(v.name) << ": " << rec.message);
        CHECK(outcome_name(rec.outcome) == std::string("ConnectFailed"));
        CHECK(rec.message.find("TLS handshake with 127.0.0.1 port " + std::to_string(srv.port) + " failed: ") !=
              std::string::npos);
        CHECK(rec.message.find("certificate") == std::string::npos);  // not a verification problem
        CHECK(srv.requests.empty());
        CHECK(engine.active() == 0);
        CHECK(engine.idle_connections() == 0);
    }
}

TEST_CASE("h1 tls: a handshake the server never answers times out at the connect deadline") {
    Pki pki;
    Identity leaf = pki.leaf();
    Loop loop;
    TlsServer srv(loop.base, leaf);
    srv.handshake = Handshake::Silent;
    H1Engine engine(loop.base);
    Recorder rec;
    Request r = post(srv.url(), pki.tls.get());
    r.connect_timeout = std::chrono::milliseconds(200);
    start(engine, r, &rec);
    REQUIRE(loop.until([&] { return rec.done; }));
    INFO(rec.message);
    CHECK(outcome_name(rec.outcome) == std::string("Timeout"));
    CHECK(rec.message == "TLS handshake with 127.0.0.1 port " + std::to_string(srv.port) + " timed out after 200 ms");
    CHECK(srv.accepts == 1);
    CHECK(engine.active() == 0);
    CHECK(engine.idle_connections() == 0);
}

TEST_CASE("h1 tls: a late session ticket or key update on an idle pooled connection keeps it") {
    Pki pki;
    Identity leaf = pki.leaf();
    for (const char* what : {"ticket", "key update", "key update, one asked back"}) {
        INFO(std::string(what));
        Loop loop;
        TlsServer::Options opt;
        opt.num_tickets = 0;  // no ticket with the handshake: the late one is the only one
        TlsServer srv(loop.base, leaf, opt);
        H1Engine engine(loop.base);
        srv.script.push_back(answer("first"));
        srv.script.push_back(answer("second"));
        Recorder first;
        start(engine, post(srv.url(), pki.tls.get()), &first);
        REQUIRE(loop.until([&] { return first.done; }));
        CHECK(first.body == "first");
        CHECK(engine.idle_connections() == 1);
        CHECK(engine.tls_sessions() == 0);
        if (std::string(what) == "ticket") {
            srv.send_ticket(0);
            // Taken by the idle connection: the engine now holds a session.
            REQUIRE(loop.until([&] { return engine.tls_sessions() == 1; }));
        } else {
            srv.send_key_update(0, std::string(what) != "key update");
            REQUIRE(loop.until([&] { return srv.idle(); }));
            loop.turns(10);  // read by the idle connection (or else with the next answer)
        }
        CHECK(engine.idle_connections() == 1);
        CHECK_FALSE(srv.conn(0).peer_closed);
        Recorder second;
        start(engine, post(srv.url(), pki.tls.get()), &second);
        REQUIRE(loop.until([&] { return second.done; }));
        INFO(second.message);
        CHECK(second.outcome == Outcome::Ok);
        CHECK(second.body == "second");
        CHECK(srv.accepts == 1);
        CHECK(srv.requests.size() == 2);
        // Asked for one, the engine's side updates its keys too (OpenSSL
        // sends that before its next record: with the request).
        CHECK(srv.conn(0).key_updates_in == (std::string(what) == "key update, one asked back" ? 1 : 0));
    }
}

TEST_CASE("h1 tls: an idle pooled connection that receives stray bytes is closed") {
    Pki pki;
    Identity leaf = pki.leaf();
    for (bool ticket_first : {false, true}) {
        INFO(std::string(ticket_first ? "a ticket, then data" : "data"));
        Loop loop;
        TlsServer srv(loop.base, leaf);
        H1Engine engine(loop.base);
        srv.script.push_back(answer("first"));
        srv.script.push_back(answer("second"));
        Recorder first;
        start(engine, post(srv.url(), pki.tls.get()), &first);
        REQUIRE(loop.until([&] { return first.done; }));
        CHECK(engine.idle_connections() == 1);
        if (ticket_first) srv.send_ticket(0);
        srv.send_data(0, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray");
        REQUIRE(loop.until([&] { return srv.conn(0).peer_closed; }));
        CHECK(engine.idle_connections() == 0);
        Recorder second;
        start(engine, post(srv.url(), pki.tls.get()), &second);
        REQUIRE(loop.until([&] { return second.done; }));
        INFO(second.message);
        CHECK(second.outcome == Outcome::Ok);
        CHECK(second.body == "second");
        CHECK(srv.accepts == 2);
        CHECK(srv.requests.size() == 2);
        REQUIRE(srv.conns() == 2);
        CHECK(srv.conn(1).reused);  // a quiet close: the session is still good
    }
}

TEST_CASE("h1 tls: a pooled connection the server closed while idle is dropped, the session kept") {
    Pki pki;
    Identity leaf = pki.leaf();
    for (bool close_notify : {true, false}) {
        for (bool tcp_close : {true, false}) {
            if (!close_notify && !tcp_close) continue;
            INFO(std::string(close_notify ? "close_notify" : "no close_notify")
                 << ", " << std::string(tcp_close ? "TCP close" : "TCP open"));
            Loop loop;
            TlsServer srv(loop.base, leaf);
            H1Engine engine(loop.base);
            srv.script.push_back(answer("first"));
            srv.script.push_back(answer("second"));
            Recorder first;
            start(engine, post(srv.url(), pki.tls.get()), &first);
            REQUIRE(loop.until([&] { return first.done; }));
            CHECK(engine.idle_connections() == 1);
            if (close_notify) srv.send_close_notify(0);
            if (tcp_close) srv.close(0);
            REQUIRE(loop.until([&] { return engine.idle_connections() == 0; }));
            Recorder second;
            start(engine, post(srv.url(), pki.tls.get()), &second);
            REQUIRE(loop.until([&] { return second.done; }));
            INFO(second.message);
            CHECK(second.outcome == Outcome::Ok);
            CHECK(second.body == "second");
            CHECK(srv.accepts == 2);
            CHECK(srv.requests.size() == 2);
            REQUIRE(srv.conns() == 2);
            CHECK(srv.conn(1).reused);
        }
    }
}

TEST_CASE("h1 tls: a request sent on a pooled connection the server had closed is sent again, once") {
    Pki pki;
    Identity leaf = pki.leaf();
    for (bool close_notify : {true, false}) {
        INFO(std::string(close_notify ? "close_notify and close" : "TCP close only"));
        Loop loop;
        TlsServer srv(loop.base, leaf);
        H1Engine engine(loop.base);
        srv.script.push_back(answer("first"));
        Reply hangup;  // the pooled connection: closed on the request
        hangup.hangup = true;
        hangup.close_notify = close_notify;
        srv.script.push_back(hangup);
        srv.script.push_back(answer("second"));
        Recorder first, second;
        // Started from on_done, before the loop could notice anything: it takes the pooled connection.
        first.then = [&] { start(engine, post(srv.url(), pki.tls.get()), &second); };
        start(engine, post(srv.url(), pki.tls.get()), &first);
        REQUIRE(loop.until([&] { return second.done; }));
        INFO(second.message);
        CHECK(first.body == "first");
        CHECK(second.outcome == Outcome::Ok);
        CHECK(second.body == "second");
        CHECK(srv.accepts == 2);
        CHECK(srv.requests.size() == 3);
        CHECK(engine.idle_connections() == 1);
    }
    // Not twice: the new connection closing too is the answer.
    Loop loop;
    TlsServer srv(loop.base, leaf);
    H1Engine engine(loop.base);
    srv.script.push_back(answer("first"));
    Reply hangup;
    hangup.hangup = true;
    srv.script.push_back(hangup);
    srv.script.push_back(hangup);
    Recorder first, second;
    first.then = [&] { start(engine, post(srv.url(), pki.tls.get()), &second); };
    start(engine, post(srv.url(), pki.tls.get()), &first);
    REQUIRE(loop.until([&] { return second.done; }));
    CHECK(second.outcome == Outcome::Reset);
    CHECK(second.message.find("empty reply") != std::string::npos);
    CHECK(srv.accepts == 2);
    CHECK(srv.requests.size() == 3);
}

TEST_CASE("h1 tls: an answer that arrives with the server's close_notify leaves no connection in the pool") {
    Pki pki;
    Identity leaf = pki.leaf();
    for (bool tcp_close : {false, true}) {
        INFO(std::string(tcp_close ? "then TCP close" : "TCP left open"));
        Loop loop;
        TlsServer srv(loop.base, leaf);
        H1Engine engine(loop.base);
        Reply r = answer("first");  // keep-alive by its head, but the server says it is done
        r.close_notify = true;
        r.close_after = tcp_close;
        srv.script.push_back(r);
        srv.script.push_back(answer("second"));
        Recorder first, second;
        first.then = [&] {
            CHECK(engine.idle_connections() == 0);
            start(engine, post(srv.url(), pki.tls.get()), &second);
        };
        start(engine, post(srv.url(), pki.tls.get()), &first);
        REQUIRE(loop.until([&] { return second.done; }));
        INFO(second.message);
        CHECK(first.body == "first");
        CHECK(second.outcome == Outcome::Ok);
        CHECK(second.body == "second");
        CHECK(srv.accepts == 2);
        // The second request went to the new connection only.
        CHECK(srv.requests.size() == 2);
        CHECK(srv.script_missing == 0);
        REQUIRE(srv.conns() == 2);
        CHECK(srv.conn(1).reused);
    }
}

TEST_CASE("h1 tls: bytes after a complete answer close the connection; a ticket after it does not") {
    for (bool large : {false, true}) {
        Pki pki;
        if (large) pki.large_read_buffer();
        Identity leaf = pki.leaf();
        for (size_t size : {10u, 65000u, 65400u, 70000u}) {
            for (bool stray : {true, false}) {
                INFO("body of " << size << std::string(stray ? ", then stray bytes" : ", then a ticket")
                                << std::string(large ? ", OpenSSL reading far ahead" : ""));
                Loop loop;
                TlsServer srv(loop.base, leaf);
                H1Engine engine(loop.base);
                std::string body = text(size, 6);
                Reply r = answer(body);
                if (stray)
                    r.records.push_back("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray");
                else
                    r.ticket_after = true;
                srv.script.push_back(r);  // one piece: the answer and what follows it
                srv.script.push_back(answer("second"));
                Recorder first, second;
                start(engine, post(srv.url(), pki.tls.get()), &first);
                REQUIRE(loop.until([&] { return first.done; }));
                CHECK(first.outcome == Outcome::Ok);
                bool same = first.body == body;
                CHECK(same);
                CHECK(engine.idle_connections() == (stray ? 0u : 1u));
                start(engine, post(srv.url(), pki.tls.get()), &second);
                REQUIRE(loop.until([&] { return second.done; }));
                INFO(second.message);
                CHECK(second.outcome == Outcome::Ok);
                CHECK(second.body == "second");
                CHECK(srv.accepts == (stray ? 2 : 1));
                CHECK(srv.requests.size() == 2);
            }
        }
    }
}

TEST_CASE("h1 tls: an address is checked against the IP names, a host name against the DNS names and sent as SNI") {
    Pki pki;
    struct Variant {
        const char* name;
        std::vector<std::string> names;
        bool by_name;
        const char* failure;  // nullptr: it succeeds
    };
    for (const Variant& v :
         {Variant{"address, IP name", {"IP:127.0.0.1"}, false, nullptr},
          Variant{"host name, DNS name", {"DNS:localhost"}, true, nullptr},
          Variant{"address, DNS name only", {"DNS:localhost"}, false, "IP address mismatch"},
          Variant{"host name, IP name only", {"IP:127.0.0.1"}, true, "hostname mismatch"},
          Variant{"host name, wildcard of another level", {"DNS:*.localhost"}, true, "hostname mismatch"}}) {
        INFO(std::string(v.name));
        LeafSpec spec;
        spec.names = v.names;
        Identity leaf = pki.leaf(spec);
        Loop loop;
        TlsServer srv(loop.base, leaf);
        H1Engine engine(loop.base);
        srv.script.push_back(answer("named"));
        Recorder rec;
        std::string host = v.by_name ? "localhost" : "127.0.0.1";
        Request r = post(srv.url(host), pki.tls.get());
        if (v.by_name)
            start_named(loop, engine, r, &rec);
        else
            start(engine, r, &rec);
        REQUIRE(loop.until([&] { return rec.done; }));
        INFO(rec.message);
        REQUIRE(srv.conns() == 1);
        REQUIRE(loop.until([&] { return srv.conn(0).handshake_done || srv.conn(0).closed; }));
        if (!v.failure) {
            CHECK(rec.outcome == Outcome::Ok);
            CHECK(rec.body == "named");
            REQUIRE(srv.requests.size() == 1);
            CHECK(srv.requests[0].find("\r\nHost: " + host + ":" + std::to_string(srv.port) + "\r\n") !=
                  std::string::npos);
        } else {
            CHECK(rec.outcome == Outcome::ConnectFailed);
            CHECK(rec.message.find(std::string("certificate verify failed: ") + v.failure) != std::string::npos);
            CHECK(srv.requests.empty());
        }
        // SNI: the name, never an address (RFC 6066).
        CHECK(srv.conn(0).servername == (v.by_name ? "localhost" : ""));
    }
}

TEST_CASE("h1 tls: requests that trust other certificates do not share connections or sessions") {
    Pki pki;
    Identity leaf = pki.leaf();
    TempFile same_ca(pem(pki.ca.cert.get()));  // another file: another context, trusting the same CA
    std::string error;
    std::shared_ptr<const TlsContext> other = TlsContext::get(same_ca.path(), error);
    REQUIRE_MESSAGE(other, error);
    REQUIRE(other->id() != pki.tls->id());
    Loop loop;
    TlsServer srv(loop.base, leaf);
    H1Engine engine(loop.base);
    for (int i = 0; i < 4; ++i) srv.script.push_back(answer("n" + std::to_string(i)));
    for (int i = 0; i < 4; ++i) {
        Recorder rec;
        start(engine, post(srv.url(), i % 2 ? other.get() : pki.tls.get()), &rec);
        REQUIRE(loop.until([&] { return rec.done; }));
        CHECK(rec.body == "n" + std::to_string(i));
    }
    CHECK(srv.accepts == 2);
    CHECK(engine.idle_connections() == 2);
    CHECK(engine.tls_sessions() == 2);
}

TEST_CASE("h1 tls: a small request is one record, a large body follows the head") {
    Pki pki;
    Identity leaf = pki.leaf();
    Loop loop;
    TlsServer srv(loop.base, leaf);
    H1Engine engine(loop.base);
    std::string small = R"({"model":"m","messages":[]})";
    std::string large = text(20000, 9);  // more than the engine coalesces
    for (int i = 0; i < 3; ++i) srv.script.push_back(answer("ok"));
    Recorder warm;
    start(engine, post(srv.url(), pki.tls.get(), small), &warm);
    REQUIRE(loop.until([&] { return warm.done; }));
    auto records_for = [&](const std::string& body) {
        size_t before = srv.conn(0).records_in;
        size_t requests = srv.requests.size();
        Recorder rec;
        start(engine, post(srv.url(), pki.tls.get(), body), &rec);
        REQUIRE(loop.until([&] { return rec.done; }));
        CHECK(rec.outcome == Outcome::Ok);
        REQUIRE(srv.requests.size() == requests + 1);
        const std::string& req = srv.requests.back();
        CHECK(req.substr(req.size() - body.size()) == body);
        return srv.conn(0).records_in - before;
    };
    CHECK(records_for(small) == 1);
    CHECK(records_for(large) >= 3);  // the head, then the body (16 KiB records)
    CHECK(srv.accepts == 1);
}
