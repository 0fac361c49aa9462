// Fuzzes the SSE framer (src/translate/sse.h). Input: two bytes choose two
// cut positions, the rest is the byte stream. Checks that
//  - complete_prefix(buf) never exceeds buf.size() and ends on a line end;
//  - the events are the same (name and data) whether the stream is fed whole
//    or in three pieces cut at those positions;
//  - parse_event / for_each_event on arbitrary bytes do not crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_common.h"
#include "translate/sse.h"

using namespace agd;

namespace {

using Events = std::vector<std::pair<std::string, std::string>>;

void check_prefix(std::string_view buf) {
    size_t n = sse::complete_prefix(buf);
    if (n > buf.size()) fuzz::fail("complete_prefix exceeds the size");
    if (n > 0 && buf[n - 1] != '\n' && buf[n - 1] != '\r') fuzz::fail("complete_prefix does not end on a line end");
}

Events run(const std::vector<std::string_view>& pieces) {
    Events out;
    sse::Framer framer;
    // name is a view into the framer's buffer or the piece: copy it now.
    auto on = [&](const sse::Event& ev) { out.emplace_back(std::string(ev.name), ev.data); };
    for (std::string_view p : pieces) {
        check_prefix(p);
        framer.feed(p, on);
    }
    framer.finish(on);
    if (!framer.empty()) fuzz::fail("framer not empty after finish");
    return out;
}

std::string describe(const Events& a, const Events& b) {
    std::string s = "whole:\n";
    for (const auto& [n, d] : a) s += "  [" + n + "] " + d + "\n";
    s += "split:\n";
    for (const auto& [n, d] : b) s += "  [" + n + "] " + d + "\n";
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    size_t c1 = data[0], c2 = data[1];
    std::string_view buf(reinterpret_cast<const char*>(data + 2), size - 2);
    c1 = buf.empty() ? 0 : c1 % (buf.size() + 1);
    c2 = c1 + (buf.size() - c1 == 0 ? 0 : c2 % (buf.size() - c1 + 1));

    check_prefix(buf);
    sse::Event whole_block = sse::parse_event(buf);
    (void)whole_block;
    size_t n = sse::complete_prefix(buf);
    sse::for_each_event(buf.substr(0, n), [](const sse::Event& ev) { (void)ev; });

    Events whole = run({buf});
    Events split = run({buf.substr(0, c1), buf.substr(c1, c2 - c1), buf.substr(c2)});
    if (whole != split) fuzz::fail("events differ when the input is split", describe(whole, split));
    // Byte by byte: the most splits there can be (short inputs only).
    if (buf.size() <= 256) {
        std::vector<std::string_view> bytes;
        for (size_t i = 0; i < buf.size(); ++i) bytes.push_back(buf.substr(i, 1));
        Events one = run(bytes);
        if (whole != one) fuzz::fail("events differ when the input is fed byte by byte", describe(whole, one));
    }
    return 0;
}
