#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "upstream/h1_parser.h"

using namespace agd::upstream;
using Event = ResponseParser::Event;

namespace {

// What a response parsed to, whatever the pieces it was fed in.
struct Result {
    int heads = 0;
    int status = 0;
    HeaderList headers;
    std::string body;
    std::string end;    // "done", "error: <why>", or "more" (nothing ended it)
    size_t taken = 0;   // bytes taken when it ended (Done, or all of them)
    bool keep_alive = false;
};

bool operator==(const Result& a, const Result& b) {
    return a.heads == b.heads && a.status == b.status && a.headers == b.headers && a.body == b.body &&
           a.end == b.end && a.taken == b.taken && a.keep_alive == b.keep_alive;
}

doctest::String describe(const Result& r) {
    std::string s = "heads=" + std::to_string(r.heads) + " status=" + std::to_string(r.status) + " body=[" + r.body +
                    "] end=" + r.end + " taken=" + std::to_string(r.taken) + " ka=" + (r.keep_alive ? "1" : "0");
    for (const auto& [n, v] : r.headers) s += " {" + n + ": " + v + "}";
    return s.c_str();
}

}  // namespace

namespace doctest {
template <>
struct StringMaker<Result> {
    static String convert(const Result& r) { return describe(r); }
};
}  // namespace doctest

namespace {

struct Options {
    size_t piece = std::string_view::npos;  // feed in pieces of this size
    std::vector<size_t> cuts = {};          // or cut at these positions
    bool head_request = false;
    bool close_at_end = false;  // call eof() after the last byte
    bool halves = false;        // consume each Body slice in two halves
};

Result run(std::string_view in, Options o = {}) {
    std::vector<size_t> ends = o.cuts;  // where each piece ends
    if (ends.empty() && o.piece != std::string_view::npos)
        for (size_t e = o.piece; e < in.size(); e += o.piece) ends.push_back(e);
    ends.push_back(in.size());
    Result r;
    ResponseParser p;
    p.set_head_request(o.head_request);
    size_t at = 0;  // start of the current piece
    bool ended = false;
    for (size_t end : ends) {
        size_t off = at;
        while (true) {
            auto s = p.feed(in.data() + off, end - off);
            REQUIRE(s.used <= end - off);
            if (s.event == Event::NeedMore) {
                CHECK(s.used == end - off);
                break;
            }
            if (s.event == Event::Head) {
                ++r.heads;
                r.status = p.status();
                r.headers = p.headers();
                off += s.used;
                continue;
            }
            if (s.event == Event::Body) {
                REQUIRE(!s.body.empty());
                REQUIRE(s.body.data() == in.data() + off + s.used);
                REQUIRE(s.used + s.body.size() <= end - off);
                size_t n = o.halves ? (s.body.size() + 1) / 2 : s.body.size();
                r.body.append(s.body.substr(0, n));
                p.consume_body(n);
                off += s.used + n;
                continue;
            }
            off += s.used;
            r.end = s.event == Event::Done ? "done" : "error: " + p.error();
            r.taken = s.event == Event::Done ? off : 0;  // where an error shows depends on the pieces
            auto again = p.feed(in.data() + off, end - off);
            CHECK(again.event == s.event);
            CHECK(again.used == 0);
            ended = true;
            break;
        }
        if (ended) break;
        at = end;
    }
    if (!ended) {
        r.end = "more";
        r.taken = in.size();
        if (o.close_at_end) r.end = p.eof() ? "eof: done" : "eof: " + p.error();
    }
    r.keep_alive = p.keep_alive();
    return r;
}

// The same result fed whole, in pieces of every small size, cut once at
// every position, and with the body slices consumed in halves.
Result run_all_ways(std::string_view in, Options o = {}) {
    Result whole = run(in, o);
    for (size_t piece : {1, 2, 3, 5, 8, 13}) {
        Options p = o;
        p.piece = piece;
        CHECK_MESSAGE(run(in, p) == whole, "pieces of " << piece);
        p.halves = true;
        CHECK_MESSAGE(run(in, p) == whole, "pieces of " << piece << ", halves");
    }
    for (size_t cut = 0; cut <= in.size(); ++cut) {
        Options c = o;
        c.cuts = {cut};
        CHECK_MESSAGE(run(in, c) == whole, "cut at " << cut);
    }
    return whole;
}

HeaderList hl(std::initializer_list<std::pair<const char*, const char*>> l) {
    HeaderList out;
    for (auto& [n, v] : l) out.emplace_back(n, v);
    return out;
}

}  // namespace

TEST_CASE("h1 parser: a Content-Length response") {
    std::string in = "HTTP/1.1 200 OK\r\nContent-Type:  application/json \r\nX-Request-ID:\tab c\t\r\n"
                     "CONTENT-LENGTH: 11\r\n\r\n{\"ok\":true}";
    Result r = run_all_ways(in);
    CHECK(r.heads == 1);
    CHECK(r.status == 200);
    CHECK(r.headers ==
          hl({{"content-type", "application/json"}, {"x-request-id", "ab c"}, {"content-length", "11"}}));
    CHECK(r.body == "{\"ok\":true}");
    CHECK(r.end == "done");
    CHECK(r.taken == in.size());
    CHECK(r.keep_alive);
}

TEST_CASE("h1 parser: step by step: Head, Body, Done with used 0") {
    std::string head = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\n";
    std::string in = head + "helloEXTRA";
    ResponseParser p;
    CHECK_FALSE(p.started());
    auto s = p.feed(in.data(), in.size());
    CHECK(p.started());
    REQUIRE(s.event == Event::Head);
    CHECK(s.used == head.size());
    CHECK(p.status() == 201);
    const char* rest = in.data() + s.used;
    s = p.feed(rest, in.size() - head.size());
    REQUIRE(s.event == Event::Body);
    CHECK(s.used == 0);
    CHECK(s.body == "hello");
    CHECK(s.body.data() == rest);
    p.consume_body(2);
    s = p.feed(rest + 2, in.size() - head.size() - 2);
    REQUIRE(s.event == Event::Body);
    CHECK(s.body == "llo");
    p.consume_body(3);
    // The last byte taken: Done at once, even with nothing more to read.
    s = p.feed(nullptr, 0);
    CHECK(s.event == Event::Done);
    CHECK(s.used == 0);
    s = p.feed(rest + 5, 5);  // the extra bytes are not taken
    CHECK(s.event == Event::Done);
    CHECK(s.used == 0);
    CHECK(p.keep_alive());
    CHECK(p.eof());
}

TEST_CASE("h1 parser: a Body step never has an empty slice") {
    ResponseParser p;
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
    REQUIRE(p.feed(in.data(), in.size()).event == Event::Head);
    auto s = p.feed(nullptr, 0);
    CHECK(s.event == Event::NeedMore);
    CHECK(s.used == 0);
    s = p.feed("ab", 2);
    REQUIRE(s.event == Event::Body);
    p.consume_body(2);
    s = p.feed("", 0);
    CHECK(s.event == Event::NeedMore);
    CHECK_FALSE(p.keep_alive());  // not done yet
}

TEST_CASE("h1 parser: a whole small response in one read") {
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    ResponseParser p;
    auto s = p.feed(in.data(), in.size());
    REQUIRE(s.event == Event::Head);
    s = p.feed(in.data() + s.used, 2);
    REQUIRE(s.event == Event::Body);
    p.consume_body(2);
    CHECK(p.feed(in.data() + in.size(), 0).event == Event::Done);
}

TEST_CASE("h1 parser: chunked with extensions and trailers") {
    std::string in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
                     "5;name=value\r\nhello\r\n"
                     "1A ; ext\r\n, abcdefghijklmnopqrstuvwx\r\n"
                     "0\r\nX-Trailer: 1\r\nServer-Timing: x;dur=1\r\n\r\n";
    Result r = run_all_ways(in);
    CHECK(r.status == 200);
    CHECK(r.headers == hl({{"transfer-encoding", "chunked"}, {"content-type", "text/event-stream"}}));
    CHECK(r.body == "hello, abcdefghijklmnopqrstuvwx");
    CHECK(r.end == "done");
    CHECK(r.taken == in.size());
    CHECK(r.keep_alive);
}

TEST_CASE("h1 parser: chunked framing steps") {
    ResponseParser p;
    std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    REQUIRE(p.feed(head.data(), head.size()).event == Event::Head);
    // The size line is framing taken before the slice.
    std::string c1 = "3\r\nabc\r\n4\r\nde";
    auto s = p.feed(c1.data(), c1.size());
    REQUIRE(s.event == Event::Body);
    CHECK(s.used == 3);
    CHECK(s.body == "abc");
    p.consume_body(3);
    s = p.feed(c1.data() + 6, c1.size() - 6);
    REQUIRE(s.event == Event::Body);
    CHECK(s.used == 5);
    CHECK(s.body == "de");
    p.consume_body(2);
    // A size line alone: taken, NeedMore.
    std::string c2 = "fg\r\n";
    s = p.feed(c2.data(), c2.size());
    REQUIRE(s.event == Event::Body);
    p.consume_body(2);
    s = p.feed(c2.data() + 2, 2);
    CHECK(s.event == Event::NeedMore);
    CHECK(s.used == 2);
    std::string c3 = "0\r\n\r\nnext";
    s = p.feed(c3.data(), c3.size());
    CHECK(s.event == Event::Done);
    CHECK(s.used == 5);
    CHECK(p.keep_alive());
}

TEST_CASE("h1 parser: chunk framing errors") {
    std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(run(head + "5\r\nhelloX\r\n0\r\n\r\n").end == "error: chunk data not followed by CRLF");
    CHECK(run(head + "5\r\nhello\r\r\n0\r\n\r\n").end == "error: chunk data not followed by CRLF");
    CHECK(run(head + "zz\r\n").end == "error: invalid chunk size");
    CHECK(run(head + "\r\n").end == "error: invalid chunk size");
    CHECK(run(head + " 5\r\nhello\r\n").end == "error: invalid chunk size");
    CHECK(run(head + "5x\r\nhello\r\n").end == "error: invalid chunk size");
    CHECK(run(head + "-5\r\nhello\r\n").end == "error: invalid chunk size");
    CHECK(run(head + "5\r\r\nhello\r\n").end == "error: bare CR in a chunk size line");
    CHECK(run(head + "10000000000000001\r\n").end == "error: chunk size too large");
    CHECK(run(head + "1000000000000001\r\n").end == "error: chunk size too large");
    CHECK(run(head + "1000000000000000\r\n").end == "more");  // 2^60: still allowed
    CHECK(run(head + "00000000000000000000005\r\nhello\r\n0\r\n\r\n").end == "done");
    CHECK(run(head + "5 \r\nhello\r\n0\r\n\r\n").body == "hello");  // whitespace before the end
    CHECK(run(head + "5 ; a=\"b\"\r\nhello\r\n0\r\n\r\n").body == "hello");
    CHECK(run(head + std::string(5000, '0') + "\r\n").end == "error: chunk size line over 4096 bytes");
    CHECK(run(head + std::string(5000, '0'), {.piece = 7}).end == "error: chunk size line over 4096 bytes");
    CHECK(run(head + "0\r\nbad trailer\r\n\r\n").end == "error: header line without a colon (trailers)");
    CHECK(run(head + "0\r\n folded\r\n\r\n").end ==
          "error: obs-fold (a line starting with whitespace) in the response head (trailers)");
}

TEST_CASE("h1 parser: trailers over the limit") {
    std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    std::string big = "X-Big: " + std::string(ResponseParser::kMaxHead, 'a') + "\r\n\r\n";
    CHECK(run(head + big).end == "error: trailers over 65536 bytes");
    CHECK(run(head + big, {.piece = 1000}).end == "error: trailers over 65536 bytes");
    std::string fits = "X-Big: " + std::string(ResponseParser::kMaxHead - 20, 'a') + "\r\n\r\n";
    CHECK(run(head + fits, {.piece = 999}).end == "done");
}

TEST_CASE("h1 parser: Transfer-Encoding decides the framing") {
    // Content-Length is ignored (and the connection not reused).
    Result r = run("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
    CHECK(r.body == "hi");
    CHECK(r.end == "done");
    CHECK_FALSE(r.keep_alive);
    r = run("HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    CHECK(r.end == "done");
    // The last coding counts, over several headers too.
    r = run("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
    CHECK(r.body == "hi");
    CHECK(r.keep_alive);
    r = run("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    CHECK(r.end == "done");
    // Not ending in chunked: delimited by the close.
    r = run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 2\r\n\r\n2\r\nhi",
            {.close_at_end = true});
    CHECK(r.body == "2\r\nhi");
    CHECK(r.end == "eof: done");
    CHECK_FALSE(r.keep_alive);
    // HTTP/1.0 with Transfer-Encoding: read, but no reuse.
    r = run("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    CHECK(r.end == "done");
    CHECK_FALSE(r.keep_alive);
}

TEST_CASE("h1 parser: a body delimited by the close") {
    std::string in = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome text, then the close";
    Result r = run_all_ways(in, {.close_at_end = true});
    CHECK(r.body == "some text, then the close");
    CHECK(r.end == "eof: done");
    CHECK_FALSE(r.keep_alive);

    ResponseParser p;
    auto s = p.feed(in.data(), in.size());
    REQUIRE(s.event == Event::Head);
    CHECK(p.feed(nullptr, 0).event == Event::NeedMore);
    CHECK(p.eof());
    CHECK(p.feed(nullptr, 0).event == Event::Done);
    CHECK_FALSE(p.keep_alive());
    // No body at all before the close.
    CHECK(run("HTTP/1.1 200 OK\r\n\r\n", {.close_at_end = true}).end == "eof: done");
}

TEST_CASE("h1 parser: interim 1xx responses are skipped") {
    std::string in = "HTTP/1.1 100 Continue\r\n\r\n"
                     "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                     "HTTP/1.1 102 Processing\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    Result r = run_all_ways(in);
    CHECK(r.heads == 1);
    CHECK(r.status == 200);
    CHECK(r.headers == hl({{"content-length", "2"}}));
    CHECK(r.body == "ok");
    CHECK(r.end == "done");

    ResponseParser p;
    auto s = p.feed(in.data(), in.size());
    REQUIRE(s.event == Event::Head);
    CHECK(s.used == in.size() - 2);
    // An interim response alone: NeedMore, the final one may follow.
    CHECK(run("HTTP/1.1 100 Continue\r\n\r\n").end == "more");
    CHECK(run("HTTP/1.1 100 Continue\r\n\r\n", {.close_at_end = true}).end ==
          "eof: connection closed before the end of the response head");
    CHECK(run("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n").end ==
          "error: unexpected 101 Switching Protocols");
    // Known as soon as the status line is complete.
    CHECK(run("HTTP/1.1 101 Switching Protocols\r\n").end == "error: unexpected 101 Switching Protocols");
    CHECK(run("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 x\r\n\r\n", {.piece = 3}).end ==
          "error: unexpected 101 Switching Protocols");
}

TEST_CASE("h1 parser: bodiless responses end right after the head") {
    for (const char* in : {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
                           "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}) {
        CAPTURE(in);
        ResponseParser p;
        auto s = p.feed(in, std::char_traits<char>::length(in));
        REQUIRE(s.event == Event::Head);
        s = p.feed(nullptr, 0);
        CHECK(s.event == Event::Done);
        CHECK(s.used == 0);
        CHECK(p.keep_alive());
    }
    // A HEAD request: no body whatever the headers say.
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    Result r = run_all_ways(in, {.head_request = true});
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(r.end == "done");
    CHECK(r.keep_alive);
    r = run("HTTP/1.1 200 OK\r\n\r\n", {.head_request = true});
    CHECK(r.end == "done");
    CHECK(r.keep_alive);
}

TEST_CASE("h1 parser: Content-Length values") {
    auto end_of = [](std::string cl) {
        return run("HTTP/1.1 200 OK\r\n" + cl + "\r\n\r\nhello").end;
    };
    CHECK(end_of("Content-Length: 5") == "done");
    CHECK(end_of("Content-Length: 005") == "done");
    CHECK(end_of("Content-Length: 5, 5") == "done");
    CHECK(end_of("Content-Length: 5\r\nContent-Length: 5") == "done");
    CHECK(end_of("Content-Length: 5,5\r\nContent-Length:5") == "done");
    CHECK(end_of("Content-Length: 5, 6") == "error: conflicting Content-Length values");
    CHECK(end_of("Content-Length: 5\r\nContent-Length: 6") == "error: conflicting Content-Length values");
    CHECK(end_of("Content-Length: x") == "error: invalid Content-Length");
    CHECK(end_of("Content-Length: +5") == "error: invalid Content-Length");
    CHECK(end_of("Content-Length: -5") == "error: invalid Content-Length");
    CHECK(end_of("Content-Length: 5 5") == "error: invalid Content-Length");
    CHECK(end_of("Content-Length: 0x5") == "error: invalid Content-Length");
    CHECK(end_of("Content-Length: 5, x") == "error: invalid Content-Length");
    CHECK(end_of("Content-Length: ") == "error: invalid Content-Length");
    CHECK(end_of("Content-Length: ,") == "error: invalid Content-Length");
    CHECK(end_of("Content-Length: 99999999999999999999999") == "error: invalid Content-Length");
    CHECK(run("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhello").body == "hel");
    CHECK(run("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhello").end == "more");
}

TEST_CASE("h1 parser: status lines") {
    CHECK(run("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").status == 200);
    CHECK(run("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").end == "done");
    CHECK(run("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n").status == 429);
    CHECK(run("HTTP/1.1 599 \xc3\xa9t\xc3\xa9\r\nContent-Length: 0\r\n\r\n").status == 599);
    for (const char* bad : {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n",
                            "HTTP/1.1  200 OK\r\n\r\n", "HTTP/1.1 099 x\r\n\r\n", "HTTP/1.x 200 OK\r\n\r\n",
                            "HTTP/1.1 2a0 OK\r\n\r\n", "HTTP/1.1 200 O\x01K\r\n\r\n", "HTTP/1.1\r\n\r\n"}) {
        CAPTURE(bad);
        CHECK(run(bad).end == "error: malformed status line");
    }
    for (const char* bad : {"HTTP/2 200 OK\r\n\r\n", "HTTP/2.0 200 OK\r\n\r\n", "HTTP/0.9 200 OK\r\n\r\n",
                            "ICY 200 OK\r\n\r\n", "http/1.1 200 OK\r\n\r\n", "\r\nHTTP/1.1 200 OK\r\n\r\n",
                            "HTTP/1\r\n\r\n"}) {
        CAPTURE(bad);
        CHECK(run(bad).end == "error: not an HTTP/1.x status line");
        CHECK(run(bad, {.piece = 1}).end == "error: not an HTTP/1.x status line");
    }
    CHECK(run("HTTP/1.1 200 O\rK\r\n\r\n").end == "error: bare CR in the response head");
    // Garbage is refused before any line end, not after kMaxHead bytes.
    CHECK(run("SSH-2.0-OpenSSH_9.2").end == "error: not an HTTP/1.x status line");
    CHECK(run("HTTP/").end == "more");
    CHECK(run("HTTP/1.1 2").end == "more");
}

TEST_CASE("h1 parser: header lines") {
    auto end_of = [](std::string line) {
        std::string in = "HTTP/1.1 200 OK\r\nA: 1\r\n" + line + "\r\nContent-Length: 0\r\n\r\n";
        Result r = run(in);
        CHECK(run(in, {.piece = 1}) == r);
        return r.end;
    };
    CHECK(end_of("X-Empty:") == "done");
    CHECK(end_of("X-Empty:   ") == "done");
    CHECK(end_of("X-Obs: caf\xc3\xa9") == "done");
    CHECK(end_of("!#$%&'*+-.^_`|~09azAZ: ok") == "done");
    CHECK(end_of(" folded") == "error: obs-fold (a line starting with whitespace) in the response head");
    CHECK(end_of("\tfolded") == "error: obs-fold (a line starting with whitespace) in the response head");
    CHECK(end_of("X-Name : v") == "error: whitespace before the colon of a header");
    CHECK(end_of(": v") == "error: empty header name");
    CHECK(end_of("no colon") == "error: header line without a colon");
    CHECK(end_of("X(y): v") == "error: invalid character in a header name");
    CHECK(end_of("X-Nul: a" + std::string(1, '\0') + "b") == "error: control character in a header value");
    CHECK(end_of("X-Cr: a\rb") == "error: bare CR in the response head");
    // obs-fold right after the status line.
    CHECK(run("HTTP/1.1 200 OK\r\n X: y\r\n\r\n").end ==
          "error: obs-fold (a line starting with whitespace) in the response head");
    Result r = run("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-V: a:b: c\r\nContent-Length: 0\r\n\r\n");
    CHECK(r.headers == hl({{"set-cookie", "a=1"}, {"set-cookie", "b=2"}, {"x-v", "a:b: c"}, {"content-length", "0"}}));
}

TEST_CASE("h1 parser: bare LF line ends, and lines split between CR and LF") {
    std::string in = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nX: y\r\n\n3\nabc\n3;x\r\ndef\r\n0\nT: 1\n\n";
    Result r = run_all_ways(in);
    CHECK(r.headers == hl({{"transfer-encoding", "chunked"}, {"x", "y"}}));
    CHECK(r.body == "abcdef");
    CHECK(r.end == "done");
    CHECK(r.taken == in.size());
    Result lf = run_all_ways("HTTP/1.0 200 OK\nContent-Length: 2\nConnection: keep-alive\n\nhi");
    CHECK(lf.body == "hi");
    CHECK(lf.keep_alive);
    // Split right between CR and LF of each line end.
    std::string crlf = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    Result whole = run(crlf);
    for (size_t i = 0; i < crlf.size(); ++i) {
        if (crlf[i] != '\r') continue;
        ResponseParser p;
        std::vector<std::string_view> pieces = {std::string_view(crlf).substr(0, i + 1),
                                                std::string_view(crlf).substr(i + 1)};
        std::string body;
        std::string end = "more";
        for (std::string_view piece : pieces) {
            size_t off = 0;
            while (end == "more") {
                auto s = p.feed(piece.data() + off, piece.size() - off);
                if (s.event == Event::NeedMore) break;
                off += s.used;
                if (s.event == Event::Body) {
                    body.append(s.body);
                    p.consume_body(s.body.size());
                    off += s.body.size();
                } else if (s.event == Event::Done) {
                    end = "done";
                } else if (s.event == Event::Error) {
                    end = "error: " + p.error();
                }
            }
        }
        CAPTURE(i);
        CHECK(body == "abc");
        CHECK(end == "done");
    }
    CHECK(whole.end == "done");
}

TEST_CASE("h1 parser: the head size limit") {
    const size_t max = ResponseParser::kMaxHead;
    std::string start = "HTTP/1.1 200 OK\r\nSet-Cookie: ";
    std::string tail = "\r\nContent-Length: 0\r\n\r\n";
    // Exactly kMaxHead bytes: fine, fed whole or in pieces (a long value).
    std::string fits = start + std::string(max - start.size() - tail.size(), 'c') + tail;
    REQUIRE(fits.size() == max);
    Result r = run(fits);
    CHECK(r.end == "done");
    CHECK(r.headers[0].second.size() == max - start.size() - tail.size());
    CHECK(run(fits, {.piece = 1}) == r);
    CHECK(run(fits, {.piece = 4000}) == r);
    // One more byte: an error, whole, in pieces, and before its end arrives.
    std::string over = start + std::string(max - start.size() - tail.size() + 1, 'c') + tail;
    CHECK(run(over).end == "error: response head over 65536 bytes");
    CHECK(run(over, {.piece = 1}).end == "error: response head over 65536 bytes");
    CHECK(run(over, {.piece = 4000}).end == "error: response head over 65536 bytes");
    CHECK(run(over.substr(0, max)).end == "error: response head over 65536 bytes");
    CHECK(run(over.substr(0, max), {.piece = 1000}).end == "error: response head over 65536 bytes");
    CHECK(run(over.substr(0, max - 1), {.piece = 1000}).end == "more");
    // A bad status line counts first, also in a head over the limit.
    CHECK(run("HTTP/1.1 200OK\r\n" + std::string(max, 'x')).end == "error: malformed status line");
    // Each interim head has its own limit.
    std::string interim = "HTTP/1.1 100 Continue\r\nX: " + std::string(max - 40, 'i') + "\r\n\r\n";
    CHECK(run(interim + interim + fits).end == "done");
    CHECK(run(interim + interim + fits, {.piece = 3000}).end == "done");
}

TEST_CASE("h1 parser: cut short") {
    auto closed = [](std::string in) { return run(in, {.close_at_end = true}).end; };
    CHECK(closed("HTTP/1.1 200 OK\r\nContent-") == "eof: connection closed before the end of the response head");
    CHECK(closed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") ==
          "eof: connection closed before the end of the body");
    CHECK(closed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n") ==
          "eof: connection closed before the end of the body");
    CHECK(closed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r") ==
          "eof: connection closed before the end of the body");
    CHECK(closed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n") ==
          "eof: connection closed before the end of the body");

    ResponseParser p;
    CHECK_FALSE(p.eof());  // closed before any byte: a stale connection
    CHECK_FALSE(p.started());
    CHECK(p.feed(nullptr, 0).event == Event::Error);
    ResponseParser q;
    CHECK(q.feed("H", 1).event == Event::NeedMore);
    CHECK(q.started());
    CHECK_FALSE(q.eof());
    CHECK_FALSE(q.eof());  // the first reason stays
    CHECK(q.error() == "connection closed before the end of the response head");
    // After an error, the same error with used 0.
    ResponseParser e;
    auto s = e.feed("XTTP/1.1", 8);
    CHECK(s.event == Event::Error);
    s = e.feed("HTTP/1.1", 8);
    CHECK(s.event == Event::Error);
    CHECK(s.used == 0);
    CHECK_FALSE(e.eof());
    CHECK(e.error() == "not an HTTP/1.x status line");
}

TEST_CASE("h1 parser: keep-alive") {
    auto ka = [](std::string version, std::string headers, std::string body = "Content-Length: 0\r\n") {
        return run(version + " 200 OK\r\n" + headers + body + "\r\n", {.close_at_end = true}).keep_alive;
    };
    CHECK(ka("HTTP/1.1", ""));
    CHECK(ka("HTTP/1.1", "Connection: keep-alive\r\n"));
    CHECK_FALSE(ka("HTTP/1.1", "Connection: close\r\n"));
    CHECK_FALSE(ka("HTTP/1.1", "Connection: CLOSE\r\n"));
    CHECK_FALSE(ka("HTTP/1.1", "Connection: Upgrade, close\r\n"));
    CHECK_FALSE(ka("HTTP/1.1", "Connection: keep-alive\r\nConnection: close\r\n"));
    CHECK(ka("HTTP/1.1", "Connection: closed\r\n"));
    CHECK_FALSE(ka("HTTP/1.0", ""));
    CHECK(ka("HTTP/1.0", "Connection: Keep-Alive\r\n"));
    CHECK(ka("HTTP/1.0", "Connection: te, keep-alive\r\n"));
    CHECK_FALSE(ka("HTTP/1.0", "Connection: keep-alive, close\r\n"));
    // Never with a body delimited by the close.
    CHECK_FALSE(ka("HTTP/1.1", "", ""));
    CHECK_FALSE(ka("HTTP/1.0", "Connection: keep-alive\r\n", ""));
    // A later minor version is read as HTTP/1.1.
    CHECK(ka("HTTP/1.2", ""));
}
