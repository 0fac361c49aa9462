// Fuzzes the store's packed rows and segments (src/store/packed.h), which
// are read back from a file that may be damaged. Input: the bytes, read
// both as one packed row and as a segment. Checks that
//  - SegmentCursor gives rows in order, each inside the input and after the
//    one before, and stays at its end once there;
//  - unpack_row (of the whole input and of each row, each copied into a
//    buffer of its exact size so that AddressSanitizer sees a read past
//    its end) never reads outside its bytes and its views point into them;
//  - a row that unpacks, packed again with pack(), unpacks to the same
//    fields, its strings cut as pack() cuts them (the bounds of
//    store/schema.h on a UTF-8 boundary, the path before its query
//    string), and packing that again gives the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "store/packed.h"
#include "store/schema.h"

using namespace agd;
using store::PackedRow;

namespace {

// Every field, strings with their length: equal texts, equal rows.
std::string show(const PackedRow& r) {
    std::string out;
    auto num = [&](const char* name, auto v) {
        out += name;
        out += '=';
        out += std::to_string(v);
        out += '\n';
    };
    auto text = [&](const char* name, std::string_view v) {
        out += name;
        out += '[';
        out += std::to_string(v.size());
        out += "]=";
        out.append(v.data(), v.size());
        out += '\n';
    };
    num("flags", static_cast<unsigned>(r.flags));
    num("request_id", r.request_id);
    num("ts_ms", r.ts_ms);
    text("client", r.client);
    text("addr", r.addr);
    text("method", r.method);
    text("path", r.path);
    text("op", r.op);
    text("protocol", r.protocol);
    text("model", r.model);
    text("model_sent", r.model_sent);
    text("provider", r.provider);
    text("credential", r.credential);
    num("attempts", r.attempts);
    text("attempt_detail", r.attempt_detail);
    num("status", r.status);
    num("upstream_status", r.upstream_status);
    text("error", r.error);
    text("limit", r.limit);
    num("input", r.input);
    num("output", r.output);
    num("cache_read", r.cache_read);
    num("cache_write", r.cache_write);
    num("reasoning", r.reasoning);
    text("usage_state", r.usage_state);
    num("ttfb_us", r.ttfb_us);
    num("ttft_us", r.ttft_us);
    num("total_us", r.total_us);
    num("bytes_in", r.bytes_in);
    num("bytes_out", r.bytes_out);
    return out;
}

bool inside(std::string_view v, const char* begin, size_t size) {
    return v.empty() || (v.data() >= begin && v.data() + v.size() <= begin + size);
}

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// cut_utf8 as documented: a prefix of at most `max` bytes, the whole string
// when it fits, else cut before a UTF-8 sequence that would be split (at
// most 3 bytes less; bytes that are not UTF-8 are cut anywhere after that).
std::string_view checked_cut(std::string_view s, size_t max) {
    std::string_view c = store::cut_utf8(s, max);
    if (c.data() != s.data() && !c.empty()) fuzz::fail("cut_utf8 is not a prefix", s);
    if (s.size() <= max) {
        if (c.size() != s.size()) fuzz::fail("cut_utf8 cuts a string within its bound", s);
        return c;
    }
    if (c.size() > max || max - c.size() > 3) fuzz::fail("cut_utf8 cuts to the wrong length", s.substr(0, max + 1));
    if (continuation(s[c.size()]) && max - c.size() < 3) fuzz::fail("cut_utf8 splits a character", s.substr(0, max + 1));
    for (size_t i = c.size(); i < max; ++i)
        if (!continuation(s[i]) && i != c.size()) fuzz::fail("cut_utf8 drops a whole character", s.substr(0, max + 1));
    return c;
}

// What pack() keeps of a row: each string cut to its bound.
PackedRow as_packed(PackedRow r) {
    using namespace store;
    auto cut = [](std::string_view& s, size_t max) { s = checked_cut(s, max); };
    cut(r.client, kMaxNameBytes);
    cut(r.addr, kMaxNameBytes);
    cut(r.method, kMaxNameBytes);
    auto q = r.path.find_first_of("?#");  // keys are never stored
    if (q != std::string_view::npos) r.path = r.path.substr(0, q);
    cut(r.path, kMaxPathBytes);
    cut(r.op, kMaxNameBytes);
    cut(r.protocol, kMaxNameBytes);
    cut(r.model, kMaxModelBytes);
    cut(r.model_sent, kMaxModelBytes);
    cut(r.provider, kMaxNameBytes);
    cut(r.credential, kMaxNameBytes);
    cut(r.attempt_detail, kMaxAttemptDetailBytes);
    cut(r.error, kMaxErrorBytes);
    cut(r.limit, kMaxNameBytes);
    cut(r.usage_state, kMaxNameBytes);
    return r;
}

void check_row(std::string_view bytes) {
    // Its own allocation of exactly its size (none for an empty row).
    std::unique_ptr<char[]> own(bytes.empty() ? nullptr : new char[bytes.size()]);
    if (!bytes.empty()) std::memcpy(own.get(), bytes.data(), bytes.size());
    std::string_view in(own.get(), bytes.size());

    PackedRow r;
    if (!store::unpack_row(in, r)) return;
    if (in.size() < 2 || static_cast<uint8_t>(in[0]) != store::kPackedFormat)
        fuzz::fail("a row without the format byte unpacks", show(r));
    if (r.flags != static_cast<uint8_t>(in[1])) fuzz::fail("flags are not the second byte", show(r));
    for (std::string_view v : {r.client, r.addr, r.method, r.path, r.op, r.protocol, r.model, r.model_sent,
                               r.provider, r.credential, r.attempt_detail, r.error, r.limit})
        if (!inside(v, in.data(), in.size())) fuzz::fail("a string outside the row's bytes", show(r));
    if (!inside(r.usage_state, in.data(), in.size()) && r.usage_state != "none")
        fuzz::fail("usage_state outside the row's bytes", show(r));
    (void)store::plain_attempt_detail(r);

    std::string packed;
    store::pack(packed, r);
    PackedRow again;
    if (!store::unpack_row(packed, again)) fuzz::fail("a re-packed row does not unpack", show(r));
    std::string want = show(as_packed(r)), got = show(again);
    if (got != want) fuzz::fail("a re-packed row reads differently", "read:\n" + want + "re-packed:\n" + got);
    std::string packed2;
    store::pack(packed2, again);
    if (packed2 != packed) fuzz::fail("packing a re-packed row changes its bytes", show(again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view buf(reinterpret_cast<const char*>(data), size);
    check_row(buf);

    store::SegmentCursor cur(buf);
    std::string_view row;
    const char* end = buf.data();  // where the last row ended
    size_t rows = 0;
    PackedRow prev;
    bool have_prev = false;
    while (cur.next(row)) {
        if (row.data() < end || row.data() + row.size() > buf.data() + buf.size())
            fuzz::fail("a segment row outside the segment or before the last one");
        if (++rows > size) fuzz::fail("more rows than bytes");
        end = row.data() + row.size();
        check_row(row);
        // The chain a reader walks: delta rows against the row before.
        PackedRow r;
        if (!store::unpack_row(row, r, have_prev ? &prev : nullptr)) {
            have_prev = false;
            continue;
        }
        if (have_prev) {
            std::string delta;
            PackedRow cut = as_packed(r), again;
            store::pack_delta(delta, cut, prev);
            if (!store::unpack_row(delta, again, &prev)) fuzz::fail("a delta row does not unpack", show(cut));
            if (show(again) != show(cut)) fuzz::fail("a delta row reads differently", show(cut) + show(again));
        }
        prev = r;
        have_prev = true;
    }
    bool ok = cur.ok();
    if (cur.next(row)) fuzz::fail("the cursor gives a row after its end");
    if (cur.ok() != ok) fuzz::fail("ok() changes after the end");
    // A segment that ends cleanly was walked to its last byte.
    if (ok && end != buf.data() + buf.size() && size != 0)
        fuzz::fail("the walk ended early without saying so");
    return 0;
}
