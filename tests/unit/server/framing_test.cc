#include <doctest/doctest.h>

#include <initializer_list>
#include <string_view>
#include <utility>

#include "server/framing.h"

using namespace agd;

namespace {
using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

FramingVerdict check(Fields fields, bool http10 = false) {
    FramingCheck c;
    for (const auto& [name, value] : fields) c.add(name, value);
    return c.verdict(http10);
}
}  // namespace

TEST_CASE("framing: ordinary heads pass") {
    CHECK(check({}).ok);
    CHECK(check({{"Host", "x"}, {"Content-Length", "12"}}).ok);
    CHECK(check({{"Content-Length", "12"}, {"content-length", "012"}}).ok);  // the same length twice
    CHECK(check({{"Transfer-Encoding", "chunked"}}).ok);
    CHECK(check({{"transfer-encoding", "Chunked"}}).ok);
    CHECK(check({{"Content-Length", " 7 "}}).ok);
    CHECK(check({{"X-Weird_Name~!", "v"}}).ok);
    CHECK(check({{"Content-Length", "5"}}, true).ok);
}

TEST_CASE("framing: ambiguous lengths are refused") {
    FramingVerdict v = check({{"Content-Length", "5"}, {"Content-Length", "6"}});
    CHECK_FALSE(v.ok);
    CHECK(v.kind == ErrorKind::BadRequest);
    CHECK(std::string_view(v.message) == "conflicting Content-Length values");

    v = check({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}});
    CHECK_FALSE(v.ok);
    CHECK(v.kind == ErrorKind::BadRequest);
    CHECK(std::string_view(v.message) == "both Content-Length and Transfer-Encoding");
    // Either order.
    CHECK_FALSE(check({{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}).ok);

    for (std::string_view bad : {"-1", "5, 5", "0x10", "", "1e3", "99999999999999999999", "+5"}) {
        CAPTURE(bad);
        v = check({{"Content-Length", bad}});
        CHECK_FALSE(v.ok);
        CHECK(v.kind == ErrorKind::BadRequest);
    }
}

TEST_CASE("framing: only the coding the parser decodes is accepted") {
    FramingVerdict v = check({{"Transfer-Encoding", "gzip"}});
    CHECK_FALSE(v.ok);
    CHECK(v.kind == ErrorKind::NotImplemented);
    CHECK(check({{"Transfer-Encoding", "gzip, chunked"}}).kind == ErrorKind::NotImplemented);
    CHECK(check({{"Transfer-Encoding", "CHUNKED"}}).kind == ErrorKind::NotImplemented);
    CHECK(check({{"Transfer-Encoding", "chunked "}}).kind == ErrorKind::NotImplemented);
    v = check({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}});
    CHECK_FALSE(v.ok);
    CHECK(v.kind == ErrorKind::BadRequest);
    v = check({{"Transfer-Encoding", "chunked"}}, true);
    CHECK_FALSE(v.ok);
    CHECK(std::string_view(v.message) == "Transfer-Encoding in an HTTP/1.0 request");
}

TEST_CASE("framing: header names must be tokens") {
    for (std::string_view bad : {"Content-Length ", " X", "X Y", "X\tY", "", "X:Y", "X\x01"}) {
        CAPTURE(bad);
        FramingVerdict v = check({{bad, "5"}});
        CHECK_FALSE(v.ok);
        CHECK(std::string_view(v.message) == "malformed header field name");
    }
    CHECK(is_token("Content-Length"));
    CHECK_FALSE(is_token("a b"));
}

namespace {
HeadScanner::Result scan(std::initializer_list<std::string_view> pieces, size_t* used = nullptr) {
    HeadScanner s;
    HeadScanner::Result r = HeadScanner::Result::More;
    for (std::string_view p : pieces) {
        r = s.feed(p.data(), p.size(), used);
        if (r != HeadScanner::Result::More) return r;
    }
    return r;
}
}  // namespace

TEST_CASE("head scanner: finds the end of a head, in one piece or many") {
    size_t used = 0;
    std::string_view head = "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY\n\rbytes";
    CHECK(scan({head}, &used) == HeadScanner::Result::End);
    CHECK(used == head.find("BODY"));  // the body is never scanned
    CHECK(scan({"GET / HTTP/1.1\r", "\nHost: x\r\n\r", "\n"}, &used) == HeadScanner::Result::End);
    CHECK(used == 1);
    CHECK(scan({"GET / HTTP/1.1\r\nHost: x\r\n"}) == HeadScanner::Result::More);
    CHECK(scan({"GET / HTTP/1.1\r\n", "\r\n"}) == HeadScanner::Result::End);
}

TEST_CASE("head scanner: bare CR and bare LF are refused") {
    CHECK(scan({"GET / HTTP/1.1\nHost: x\r\n\r\n"}) == HeadScanner::Result::Bad);
    CHECK(scan({"GET / HTTP/1.1\r\nHost: x\r\n\n"}) == HeadScanner::Result::Bad);
    CHECK(scan({"GET / HTTP/1.1\r\n\n"}) == HeadScanner::Result::Bad);  // what stalled libevhtp's parser
    CHECK(scan({"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n"}) == HeadScanner::Result::Bad);
    CHECK(scan({"GET / HTTP/1.1\r", "X"}) == HeadScanner::Result::Bad);
    // A scanner reset starts a new head after a line end.
    HeadScanner s;
    CHECK(s.feed("A\r", 2, nullptr) == HeadScanner::Result::More);
    s.reset();
    CHECK(s.feed("B", 1, nullptr) == HeadScanner::Result::More);
}
