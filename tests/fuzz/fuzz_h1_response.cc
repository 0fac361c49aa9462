// Fuzzes the HTTP/1.x response parser (src/upstream/h1_parser.h). Input: a
// flag byte (bit 0: the response to a HEAD request), two 16-bit cut
// positions (little-endian), then the bytes the upstream sent. Checks that
//  - no step takes more than its input: used (+ the body slice) fit in it,
//    a Body slice is non-empty and follows the used bytes, NeedMore takes
//    everything;
//  - the outcome (status, headers, body bytes, Done or Error and why, the
//    bytes taken up to Done, keep_alive, eof()) is the same whether the input
//    is fed whole, in three pieces cut at those positions, or byte by byte,
//    and whether each Body slice is consumed whole or in halves;
//  - after Done or Error, feed() returns the same event with used 0.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "upstream/h1_parser.h"

using namespace agd;
using upstream::ResponseParser;
using Event = ResponseParser::Event;

namespace {

struct Outcome {
    int status = 0;
    upstream::HeaderList headers;
    std::string body;
    std::string end;   // "done", "error: why", then after the last byte "eof: ..." if neither
    size_t taken = 0;  // bytes taken up to Done
    bool keep_alive = false;
    bool operator==(const Outcome&) const = default;
};

std::string describe(const Outcome& o) {
    std::string s = "status " + std::to_string(o.status) + ", end " + o.end + ", taken " + std::to_string(o.taken) +
                    ", keep_alive " + (o.keep_alive ? "1" : "0") + "\n";
    for (const auto& [n, v] : o.headers) s += "  " + n + ": " + v + "\n";
    s += "  body (" + std::to_string(o.body.size()) + "): " + o.body + "\n";
    return s;
}

// Feeds pieces ending at `ends` (the last is buf.size()) as a caller would.
Outcome run(std::string_view buf, const std::vector<size_t>& ends, bool head_request, bool halves) {
    Outcome out;
    ResponseParser p;
    p.set_head_request(head_request);
    bool fed_any = false, ended = false;
    int heads = 0;
    size_t at = 0;
    for (size_t end : ends) {
        size_t off = at;
        while (!ended) {
            size_t avail = end - off;
            if (avail > 0) fed_any = true;
            ResponseParser::Step s = p.feed(buf.data() + off, avail);
            if (s.used > avail) fuzz::fail("used exceeds the input");
            switch (s.event) {
            case Event::NeedMore:
                if (s.used != avail) fuzz::fail("NeedMore did not take all of the input");
                break;
            case Event::Head:
                if (++heads > 1) fuzz::fail("a second Head");
                if (p.status() < 200 || p.status() > 999) fuzz::fail("final status out of range");
                out.status = p.status();
                out.headers = p.headers();
                off += s.used;
                continue;
            case Event::Body: {
                if (heads != 1) fuzz::fail("Body before Head");
                if (s.body.empty()) fuzz::fail("empty Body slice");
                if (s.body.data() != buf.data() + off + s.used) fuzz::fail("Body slice not right after the used bytes");
                if (s.used + s.body.size() > avail) fuzz::fail("Body slice exceeds the input");
                size_t n = halves ? (s.body.size() + 1) / 2 : s.body.size();
                out.body.append(s.body.substr(0, n));
                p.consume_body(n);
                off += s.used + n;
                continue;
            }
            case Event::Done:
            case Event::Error: {
                off += s.used;
                if (s.event == Event::Done) {
                    if (heads != 1) fuzz::fail("Done without a Head");
                    out.end = "done";
                    out.taken = off;
                } else {
                    if (p.error().empty()) fuzz::fail("Error without a reason");
                    out.end = "error: " + p.error();
                }
                ResponseParser::Step again = p.feed(buf.data() + off, end - off);
                if (again.event != s.event || again.used != 0) fuzz::fail("feed after Done/Error changed");
                ended = true;
                break;
            }
            }
            break;
        }
        if (ended) break;
        at = end;
    }
    if (!ended) {
        bool ok = p.eof();
        out.end = ok ? "eof: done" : "eof: " + p.error();
        ResponseParser::Step again = p.feed(nullptr, 0);
        if (again.event != (ok ? Event::Done : Event::Error) || again.used != 0) fuzz::fail("feed after eof()");
    }
    if (p.started() != fed_any) fuzz::fail("started() wrong");
    out.keep_alive = p.keep_alive();
    return out;
}

void same(const Outcome& a, const Outcome& b, const char* what) {
    if (!(a == b)) fuzz::fail(what, "whole:\n" + describe(a) + "other:\n" + describe(b));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 5) return 0;
    bool head_request = data[0] & 1;
    size_t c1 = data[1] | (data[2] << 8), c2 = data[3] | (data[4] << 8);
    std::string_view buf(reinterpret_cast<const char*>(data + 5), size - 5);
    c1 %= buf.size() + 1;
    c2 = c1 + c2 % (buf.size() - c1 + 1);

    Outcome whole = run(buf, {buf.size()}, head_request, false);
    same(whole, run(buf, {buf.size()}, head_request, true), "whole, body consumed in halves");
    same(whole, run(buf, {c1, c2, buf.size()}, head_request, false), "three pieces");
    same(whole, run(buf, {c1, c2, buf.size()}, head_request, true), "three pieces, body consumed in halves");
    // Byte by byte: the most splits there can be (not too long inputs).
    if (buf.size() <= 8192) {
        std::vector<size_t> ends;
        for (size_t i = 1; i <= buf.size(); ++i) ends.push_back(i);
        if (ends.empty()) ends.push_back(0);
        same(whole, run(buf, ends, head_request, false), "byte by byte");
    }
    return 0;
}
