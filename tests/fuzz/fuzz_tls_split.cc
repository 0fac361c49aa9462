// Fuzzes where TCP reads cut the TLS records the native HTTP/1.1 engine
// reads (src/upstream/h1_engine_tls.cc). Each input runs a real handshake
// and one or two requests through H1Engine against the unit tests' scripted
// TLS server (tests/unit/upstream/tls_server.h) over loopback TCP on one
// event loop; the server writes its ciphertext (handshake, tickets, answers,
// close_notify) in pieces whose sizes the input gives, one piece per read of
// the engine. The ciphertext itself differs from run to run (TLS is
// randomized) but its record lengths do not (RSA keys: signatures of one
// length), so an input cuts the same records at the same places every time.
//
// Input: a flag byte, a size byte, then one byte per piece: b < 0xf0 is a
// piece of b + 1 bytes, b >= 0xf0 one of (b - 0xef) * 4096 bytes; when the
// input ends, the rest goes in one piece.
//   flags bits 0-2: the answer (0 Content-Length, 1 chunked, 2 close-delimited
//     with close_notify, 3 close-delimited by the TCP close alone, 4
//     Connection: close and close_notify, 5 one record per 7 body bytes, 6 a
//     session ticket behind the answer (TLS 1.3), 7 a 100 Continue before
//     a Content-Length answer);
//   bit 3: the server speaks TLS 1.2 at most; bit 4: the client's OpenSSL
//     reads far ahead (a large read buffer: the engine's 64 KiB buffer fills);
//   bit 5: the listener pauses on every other body call and resumes from the
//     loop; bit 6: a second request follows on the same engine; bit 7: the
//     body is 60000 + size * 64 bytes (around the engine's buffer) instead of
//     size * 53.
// Checks: the answer arrives whole and exact with outcome Ok; the connection
// is pooled exactly when the answer keeps it; a second request gets its own
// answer, on the same connection when it was kept. A hang (10 s without the
// answer) fails too.
#include <event2/event.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_pki.h"
#include "tls_server.h"
#include "upstream/h1_engine.h"
#include "upstream/tls_context.h"

using namespace agd;
using namespace agd::upstream;
using testtls::Reply;
using testtls::Split;
using testtls::TlsServer;

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "\n*** fuzz invariant failed: %s\n%.4000s\n", what, detail.c_str());
    std::fflush(stderr);
    __builtin_trap();
}

testpki::LeafSpec rsa_leaf() {
    testpki::LeafSpec spec;
    spec.rsa = true;
    return spec;
}

// Made once per process: the CA, the server's certificate, the contexts
// trusting that CA (default read buffer, and a large one).
struct Pki {
    testpki::Identity ca = testpki::make_ca("agd fuzz CA", true);
    testpki::Identity leaf = testpki::make_leaf(ca, rsa_leaf());
    testpki::TempFile ca_file{testpki::pem(ca.cert.get())};
    testpki::TempFile ca_file2{testpki::pem(ca.cert.get())};  // another file: another context
    std::shared_ptr<const TlsContext> tls, tls_large;
    Pki() {
        std::string error;
        tls = TlsContext::get(ca_file.path(), error);
        tls_large = TlsContext::get(ca_file2.path(), error);
        if (!tls || !tls_large) fail("TlsContext::get", error);
        SSL_CTX_set_default_read_buffer_len(tls_large->ctx(), 256 * 1024);
    }
};

Pki& pki() {
    static Pki p;  // until exit, which removes its files
    return p;
}

struct Recorder : Listener {
    std::string body;
    bool done = false;
    Outcome outcome = Outcome::Other;
    std::string message;
    long status = 0;
    int calls = 0;
    bool pause_odd = false;
    Transfer* transfer = nullptr;
    event* resume = nullptr;

    ~Recorder() override {
        if (resume) event_free(resume);
    }
    void on_headers(long s, HeaderList&&) override { status = s; }
    size_t on_body(const char* data, size_t len) override {
        if (pause_odd && ++calls % 2 == 1) {
            timeval zero{0, 0};
            evtimer_add(resume, &zero);
            return kPause;
        }
        body.append(data, len);
        return len;
    }
    void on_done(Outcome o, std::string_view m) override {
        done = true;
        outcome = o;
        message = std::string(m);
    }
};

std::string text(size_t n, unsigned seed) {
    static const char kAlpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s(n, ' ');
    for (size_t i = 0; i < n; ++i) s[i] = kAlpha[(i * 31 + i / 97 + seed * 7) % 36];
    return s;
}

Reply make_reply(unsigned kind, const std::string& b, bool& keep_alive) {
    Reply r;
    keep_alive = true;
    switch (kind) {
        case 0: return testtls::answer(b);
        case 1: {
            std::string s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            for (size_t pos = 0, n = 1; pos < b.size(); pos += n, n = n * 3 + 1) {
                n = std::min(n, b.size() - pos);
                char hex[16];
                std::snprintf(hex, sizeof hex, "%zx", n);
                s += std::string(hex) + "\r\n" + b.substr(pos, n) + "\r\n";
            }
            s += "0\r\n\r\n";
            for (size_t i = 0; i < s.size(); i += 1000) r.records.push_back(s.substr(i, 1000));
            return r;
        }
        case 2:
        case 3:
            keep_alive = false;
            r.records = {"HTTP/1.1 200 OK\r\n\r\n", b};
            r.close_notify = kind == 2;
            r.close_after = true;
            return r;
        case 4:
            keep_alive = false;
            r = testtls::answer(b, "Connection: close\r\n");
            r.close_notify = true;
            r.close_after = true;
            return r;
        case 5:
            r.records = {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n"};
            for (size_t i = 0; i < b.size(); i += 7) r.records.push_back(b.substr(i, 7));
            return r;
        case 6:
            r = testtls::answer(b);
            r.ticket_after = true;
            return r;
        default:
            r = testtls::answer(b);
            r.records.insert(r.records.begin(), "HTTP/1.1 100 Continue\r\n\r\n");
            return r;
    }
}

// The input's piece sizes, in order, over every write of the server.
Split input_split(const uint8_t* data, size_t size) {
    auto pos = std::make_shared<size_t>(0);
    std::vector<uint8_t> in(data, data + size);
    return [pos, in](const std::string& bytes) {
        std::vector<std::string> out;
        size_t at = 0;
        while (at < bytes.size()) {
            if (*pos >= in.size()) {
                out.push_back(bytes.substr(at));
                break;
            }
            uint8_t b = in[(*pos)++];
            size_t n = b < 0xf0 ? b + 1u : (b - 0xefu) * 4096u;
            out.push_back(bytes.substr(at, n));
            at += n;
        }
        return out;
    };
}

bool run_until(event_base* base, const std::function<bool()>& cond) {
    bool expired = false;
    event* guard = evtimer_new(
        base, [](int, short, void* p) { *static_cast<bool*>(p) = true; }, &expired);
    timeval tv{10, 0};
    evtimer_add(guard, &tv);
    while (!cond() && !expired) event_base_loop(base, EVLOOP_ONCE);
    event_free(guard);
    return cond();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    Pki& p = pki();
    uint8_t flags = data[0], sz = data[1];
    unsigned kind = flags & 7;
    bool tls12 = flags & 8, large = flags & 16, pause = flags & 32, twice = flags & 64;
    if (kind == 6 && tls12) kind = 0;  // no TLS 1.3 ticket to send
    size_t body_size = flags & 128 ? 60000 + sz * 64u : sz * 53u;

    event_base* base = event_base_new();
    {
        TlsServer::Options opt;
        if (tls12) opt.max_version = TLS1_2_VERSION;
        TlsServer srv(base, p.leaf, opt);
        srv.split = input_split(data + 2, size - 2);
        H1Engine engine(base);
        int expected_accepts = 0;
        bool pooled = false;
        for (unsigned round = 0; round < (twice ? 2u : 1u); ++round) {
            std::string body = text(body_size, round);
            bool keep_alive = true;
            srv.script.push_back(make_reply(kind, body, keep_alive));
            if (!pooled) ++expected_accepts;
            Recorder rec;
            rec.pause_odd = pause;
            Request req;
            req.url = srv.url();
            req.headers = {"Content-Type: application/json"};
            req.body = "{}";
            req.body_len = 2;
            req.tls = large ? p.tls_large.get() : p.tls.get();
            bool declined = true;
            rec.transfer = engine.start(req, &rec, declined);
            if (declined || !rec.transfer) fail("the engine did not take the request");
            rec.resume = evtimer_new(
                base, [](int, short, void* r) { static_cast<Recorder*>(r)->transfer->resume(); }, &rec);
            if (!run_until(base, [&] { return rec.done; })) fail("no answer within 10 s (a hang)");
            std::string what = "round " + std::to_string(round) + ", answer kind " + std::to_string(kind) + ", " +
                               std::to_string(body_size) + " bytes: " + rec.message;
            if (rec.outcome != Outcome::Ok || rec.status != 200) fail("the answer did not complete", what);
            if (rec.body != body)
                fail("the body differs", what + "; got " + std::to_string(rec.body.size()) + " bytes");
            if (engine.idle_connections() != (keep_alive ? 1u : 0u)) fail("pooled when it must not be, or not", what);
            pooled = keep_alive;
            if (srv.accepts != expected_accepts) fail("connections opened", what);
        }
    }
    event_base_free(base);
    return 0;
}
