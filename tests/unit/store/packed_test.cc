// The store's packed rows and segments (store/packed.h): round trips, and
// bytes that are not what pack() wrote (a damaged file).
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/protocol.h"
#include "store/packed.h"
#include "store/schema.h"
#include "support.h"

using namespace agd::store;

namespace {

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7F) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }

void put_string(std::string& out, std::string_view s) {
    put_varint(out, s.size());
    out.append(s);
}

// The fields of a row in their packed order, each as text (strings with
// their length, so that different rows never show the same).
std::vector<std::string> fields(const PackedRow& r) {
    std::vector<std::string> f;
    auto u = [&](const char* name, uint64_t v) { f.push_back(std::string(name) + "=" + std::to_string(v)); };
    auto s = [&](const char* name, int64_t v) { f.push_back(std::string(name) + "=" + std::to_string(v)); };
    auto t = [&](const char* name, std::string_view v) {
        f.push_back(std::string(name) + "[" + std::to_string(v.size()) + "]=" + std::string(v));
    };
    u("request_id", r.request_id);
    s("ts_ms", r.ts_ms);
    t("client", r.client);
    t("addr", r.addr);
    t("method", r.method);
    t("path", r.path);
    t("op", r.op);
    t("protocol", r.protocol);
    t("model", r.model);
    t("model_sent", r.model_sent);
    t("provider", r.provider);
    t("credential", r.credential);
    u("attempts", r.attempts);
    t("attempt_detail", r.attempt_detail);
    u("status", r.status);
    u("upstream_status", r.upstream_status);
    t("error", r.error);
    t("limit", r.limit);
    s("input", r.input);
    s("output", r.output);
    s("cache_read", r.cache_read);
    s("cache_write", r.cache_write);
    s("reasoning", r.reasoning);
    t("usage_state", r.usage_state);
    s("ttfb_us", r.ttfb_us);
    s("ttft_us", r.ttft_us);
    s("total_us", r.total_us);
    u("bytes_in", r.bytes_in);
    u("bytes_out", r.bytes_out);
    return f;
}

// How each field is written: U unsigned varint, S zigzag varint, T string.
constexpr char kKinds[] = "USTTTTTTTTTTUTUUTTSSSSSTSSSUU";
constexpr size_t kFields = sizeof kKinds - 1;

// The offsets where each field of a well-formed row ends, read the way the
// format is documented (not with the code under test).
std::vector<size_t> field_ends(std::string_view b) {
    std::vector<size_t> ends;
    size_t i = 2;
    auto varint = [&](uint64_t& v) {
        v = 0;
        for (unsigned shift = 0;; shift += 7) {
            REQUIRE(i < b.size());
            auto c = static_cast<uint8_t>(b[i++]);
            v |= static_cast<uint64_t>(c & 0x7F) << shift;
            if ((c & 0x80) == 0) return;
        }
    };
    for (size_t k = 0; k < kFields; ++k) {
        uint64_t v;
        varint(v);
        if (kKinds[k] == 'T') i += static_cast<size_t>(v);
        REQUIRE(i <= b.size());
        ends.push_back(i);
    }
    return ends;
}

// A failed-over request with every field set, strings of several bytes,
// multi-byte varints and numbers at their limits.
agd::record::RequestRecord full_record() {
    auto r = store_test::record(std::numeric_limits<uint64_t>::max(), 1'700'000'000'123, "bob", "claude-sonnet-4");
    r.stream = true;
    r.path = "/v1/messages";
    r.op = agd::Operation::Messages;
    r.protocol = agd::Protocol::Anthropic;
    r.model_sent = "claude-sonnet-4-20250514";
    r.provider = 1;
    r.provider_name = "claude";
    r.credential = "deadbeef";
    r.attempts.clear();
    r.attempts.push_back({0, "1a2b3c4d", 529, agd::record::AttemptOutcome::UpstreamError});
    r.attempts.push_back({1, "deadbeef", 429, agd::record::AttemptOutcome::RateLimited});
    r.status = 503;  // the gateway's own answer after the last attempt
    r.upstream_status = 429;
    r.error = "rate limited: caf\xc3\xa9";
    r.limit = "tpm";
    r.usage.input = std::numeric_limits<int64_t>::max();
    r.usage.output = 0;
    r.usage.cache_read = -1;
    r.usage.cache_write = 123'456'789'012;
    r.usage.reasoning = std::numeric_limits<int64_t>::min();
    r.usage_state = agd::record::UsageState::Cut;
    r.ttfb_us = -1;
    r.ttft_us = 0;
    r.total_us = 3'600'000'000;
    r.bytes_in = 0;
    r.bytes_out = std::numeric_limits<uint64_t>::max() - 1;
    return r;
}

}  // namespace

TEST_CASE("store packed: a request round-trips through pack_row and unpack_row, every field") {
    SUBCASE("a plain request: one attempt that went well, bodies kept") {
        auto rec = store_test::record(0x0003000000000007ull, 1'700'000'000'123);
        std::string packed;
        pack_row(packed, rec, true);
        REQUIRE(packed.size() >= 2);
        CHECK(static_cast<uint8_t>(packed[0]) == kPackedFormat);
        PackedRow r;
        REQUIRE(unpack_row(packed, r));
        CHECK(r.flags == (kPackedUpstream | kPackedProtocol | kPackedRouted | kPackedBodies));
        CHECK_FALSE(r.stream());
        CHECK(r.upstream());
        CHECK(r.routed());
        CHECK(r.has_bodies());
        CHECK(r.request_id == 0x0003000000000007ull);
        CHECK(r.ts_ms == 1'700'000'000'123);
        CHECK(r.client == "alice");
        CHECK(r.addr == "192.0.2.7");
        CHECK(r.method == "POST");
        CHECK(r.path == "/v1/chat/completions");
        CHECK(r.op == agd::operation_name(agd::Operation::ChatCompletions));
        CHECK(r.protocol == agd::protocol_name(agd::Protocol::OpenAIChat));
        CHECK(r.model == "gpt-4o");
        CHECK(r.model_sent == "gpt-4o");
        CHECK(r.provider == "openai");
        CHECK(r.credential == "1a2b3c4d");
        CHECK(r.attempts == 1);
        // The one plain attempt is not spelled out; it is rebuilt from the row.
        CHECK(r.attempt_detail.empty());
        CHECK(plain_attempt_detail(r) == "openai/1a2b3c4d:200:ok");
        CHECK(r.status == 200);
        CHECK(r.upstream_status == 200);
        CHECK(r.error.empty());
        CHECK(r.limit.empty());
        CHECK(r.input == 100);
        CHECK(r.output == 20);
        CHECK(r.cache_read == 50);
        CHECK(r.cache_write == 0);
        CHECK(r.reasoning == 5);
        CHECK(r.usage_state == "reported");
        CHECK(r.ttfb_us == 120'000);
        CHECK(r.ttft_us == 150'000);
        CHECK(r.total_us == 900'000);
        CHECK(r.bytes_in == 300);
        CHECK(r.bytes_out == 1200);
        // Every string is a view into the packed bytes.
        CHECK(r.model.data() >= packed.data());
        CHECK(r.model.data() + r.model.size() <= packed.data() + packed.size());
        // pack() of what was read gives the same bytes.
        std::string again;
        pack(again, r);
        CHECK(again == packed);
    }
    SUBCASE("a failed-over streamed request, numbers at their limits") {
        auto rec = full_record();
        std::string packed;
        pack_row(packed, rec, false);
        PackedRow r;
        REQUIRE(unpack_row(packed, r));
        CHECK(r.flags == (kPackedStream | kPackedUpstream | kPackedProtocol | kPackedRouted));
        CHECK(r.stream());
        CHECK_FALSE(r.has_bodies());
        CHECK(r.request_id == std::numeric_limits<uint64_t>::max());
        CHECK(r.ts_ms == 1'700'000'000'123);
        CHECK(r.client == "bob");
        CHECK(r.addr == "192.0.2.7");
        CHECK(r.method == "POST");
        CHECK(r.path == "/v1/messages");
        CHECK(r.op == agd::operation_name(agd::Operation::Messages));
        CHECK(r.protocol == "anthropic");
        CHECK(r.model == "claude-sonnet-4");
        CHECK(r.model_sent == "claude-sonnet-4-20250514");
        CHECK(r.provider == "claude");
        CHECK(r.credential == "deadbeef");
        CHECK(r.attempts == 2);
        CHECK(r.attempt_detail == "openai/1a2b3c4d:529:error,claude/deadbeef:429:rate_limited");
        CHECK(plain_attempt_detail(r) == r.attempt_detail);
        CHECK(r.status == 503);
        CHECK(r.upstream_status == 429);
        CHECK(r.error == "rate limited: caf\xc3\xa9");
        CHECK(r.limit == "tpm");
        CHECK(r.input == std::numeric_limits<int64_t>::max());
        CHECK(r.output == 0);
        CHECK(r.cache_read == -1);
        CHECK(r.cache_write == 123'456'789'012);
        CHECK(r.reasoning == std::numeric_limits<int64_t>::min());
        CHECK(r.usage_state == "cut");
        CHECK(r.ttfb_us == -1);
        CHECK(r.ttft_us == 0);
        CHECK(r.total_us == 3'600'000'000);
        CHECK(r.bytes_in == 0);
        CHECK(r.bytes_out == std::numeric_limits<uint64_t>::max() - 1);
    }
    SUBCASE("a local answer: not upstream, not routed, no protocol; the query string is never stored") {
        agd::record::RequestRecord rec;
        rec.id = 1;
        rec.unix_ms = -5;  // before 1970: zigzag
        rec.method = "GET";
        rec.path = "/v1beta/models?key=SECRET#frag";
        rec.op = agd::Operation::GeminiListModels;
        rec.status = 200;
        rec.total_us = 42;
        std::string packed;
        pack_row(packed, rec, false);
        CHECK(packed.find("SECRET") == std::string::npos);
        PackedRow r;
        REQUIRE(unpack_row(packed, r));
        CHECK(r.flags == 0);
        CHECK(r.ts_ms == -5);
        CHECK(r.path == "/v1beta/models");
        CHECK(r.protocol.empty());
        CHECK(r.provider.empty());
        CHECK(r.attempts == 0);
        CHECK(r.attempt_detail.empty());
        CHECK(plain_attempt_detail(r).empty());
        CHECK(r.upstream_status == 0);
        CHECK(r.input == -1);
        CHECK(r.reasoning == -1);
        CHECK(r.usage_state == "none");
        CHECK(r.ttfb_us == -1);
        CHECK(r.ttft_us == -1);
        CHECK(r.total_us == 42);
    }
}

TEST_CASE("store packed: the bytes are the documented format") {
    PackedRow in;
    in.flags = kPackedStream | kPackedBodies;
    in.request_id = 300;  // two bytes: AC 02
    in.ts_ms = -2;        // zigzag: 3
    in.client = "c";
    in.total_us = 1;
    in.bytes_out = 127;
    std::string packed;
    pack(packed, in);
    std::string want = "\x01\x11";
    put_varint(want, 300);
    put_varint(want, zigzag(-2));
    put_string(want, "c");
    for (int i = 0; i < 9; ++i) put_string(want, "");  // addr .. credential
    put_varint(want, 0);                               // attempts
    put_string(want, "");                              // attempt_detail
    put_varint(want, 0);                               // status
    put_varint(want, 0);                               // upstream_status
    put_string(want, "");                              // error
    put_string(want, "");                              // limit
    for (int i = 0; i < 5; ++i) put_varint(want, zigzag(-1));  // tokens unknown
    put_string(want, "none");
    put_varint(want, zigzag(-1));  // ttfb
    put_varint(want, zigzag(-1));  // ttft
    put_varint(want, zigzag(1));   // total
    put_varint(want, 0);           // bytes_in
    put_varint(want, 127);         // bytes_out
    CHECK(packed == want);
    CHECK(want.substr(2, 2) == "\xac\x02");
    CHECK(field_ends(packed).back() == packed.size());
}

TEST_CASE("store packed: every proper prefix of a row is a shorter row or damage, never read past its end") {
    for (bool plain : {true, false}) {
        CAPTURE(plain);
        auto rec = plain ? store_test::record(77, 1'700'000'000'000) : full_record();
        std::string packed;
        pack_row(packed, rec, !plain);
        PackedRow full;
        REQUIRE(unpack_row(packed, full));
        const auto want = fields(full);
        const auto ends = field_ends(packed);
        REQUIRE(ends.size() == kFields);
        REQUIRE(ends.back() == packed.size());
        const auto defaults = fields(PackedRow{});
        size_t shorter_rows = 0, damaged = 0;
        for (size_t k = 0; k < packed.size(); ++k) {
            CAPTURE(k);
            // Its own allocation of exactly k bytes: AddressSanitizer sees a
            // read past the end.
            std::vector<char> buf(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(k));
            PackedRow r;
            bool ok = unpack_row(std::string_view(buf.data(), buf.size()), r);
            // How many fields the prefix holds whole.
            size_t whole = 0;
            while (whole < kFields && ends[whole] <= k) ++whole;
            bool on_boundary = k >= 2 && (k == 2 || (whole > 0 && ends[whole - 1] == k));
            if (k < 2) {
                CHECK_FALSE(ok);  // not even the flags byte
                continue;
            }
            if (on_boundary) CHECK(ok);  // a row that ends early (an older version's)
            if (!ok) {
                ++damaged;
                continue;
            }
            ++shorter_rows;
            CHECK(r.flags == full.flags);
            // The fields it holds whole are read, the later ones are defaults
            // (a field cut in the middle, if read at all, is left at its default).
            auto got = fields(r);
            for (size_t i = 0; i < kFields; ++i) {
                CAPTURE(i);
                if (i < whole)
                    CHECK(got[i] == want[i]);
                else
                    CHECK(got[i] == defaults[i]);
            }
            // Views point into the prefix (or are the defaults).
            for (std::string_view v : {r.client, r.addr, r.method, r.path, r.op, r.protocol, r.model, r.model_sent,
                                       r.provider, r.credential, r.attempt_detail, r.error, r.limit})
                CHECK((v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size())));
        }
        CHECK(shorter_rows >= kFields);  // every boundary at least
        CHECK(damaged > 0);              // and cuts inside strings and varints
    }
    CHECK(fields(PackedRow{})[18] == "input=-1");  // unknown numbers default to -1
}

TEST_CASE("store packed: a string length pointing past the end is damage") {
    std::string head = "\x01";
    head.push_back('\0');
    put_varint(head, 5);            // request_id
    put_varint(head, zigzag(1000));  // ts_ms
    PackedRow r;
    {
        std::string b = head;
        put_varint(b, 10);  // client: 10 bytes, 3 there
        b += "abc";
        CHECK_FALSE(unpack_row(b, r));
    }
    {
        std::string b = head;
        put_varint(b, 4);  // exactly there: a row that ends after the client
        b += "abcd";
        REQUIRE(unpack_row(b, r));
        CHECK(r.client == "abcd");
        CHECK(r.addr.empty());
        b.pop_back();  // one short
        CHECK_FALSE(unpack_row(b, r));
    }
    for (uint64_t huge : {uint64_t{1} << 32, uint64_t{1} << 63, std::numeric_limits<uint64_t>::max(),
                          std::numeric_limits<uint64_t>::max() - 2}) {
        CAPTURE(huge);
        std::string b = head;
        put_varint(b, huge);  // no overflow of an offset + length
        b += "abcdefgh";
        std::vector<char> buf(b.begin(), b.end());
        CHECK_FALSE(unpack_row(std::string_view(buf.data(), buf.size()), r));
    }
    {
        // A later string: the error's length runs past the end.
        std::string b;
        pack_row(b, store_test::record(1, 2), false);
        auto ends = field_ends(b);
        b.resize(ends[15]);  // through upstream_status
        put_varint(b, 100);  // error
        b += "short";
        CHECK_FALSE(unpack_row(b, r));
    }
}

TEST_CASE("store packed: a varint longer than 10 bytes, or over 64 bits, is damage") {
    auto row_with_id = [](std::string_view id_bytes) {
        std::string b = "\x01";
        b.push_back('\0');
        b.append(id_bytes);
        return b;
    };
    PackedRow r;
    // The largest number: ten bytes, the last one 01.
    std::string max(9, '\xff');
    max.push_back('\x01');
    REQUIRE(unpack_row(row_with_id(max), r));
    CHECK(r.request_id == std::numeric_limits<uint64_t>::max());
    // A redundant (not minimal) encoding still fits in ten bytes.
    std::string zero(9, '\x80');
    zero.push_back('\0');
    REQUIRE(unpack_row(row_with_id(zero), r));
    CHECK(r.request_id == 0);
    // Eleven bytes (ten with the continuation bit, then an end).
    std::string eleven(10, '\x80');
    eleven.push_back('\0');
    CHECK_FALSE(unpack_row(row_with_id(eleven), r));
    std::string many(40, '\xff');
    many.push_back('\x01');
    CHECK_FALSE(unpack_row(row_with_id(many), r));
    // Ten bytes, but the tenth holds more than the 64th bit.
    std::string over(9, '\xff');
    over.push_back('\x02');
    CHECK_FALSE(unpack_row(row_with_id(over), r));
    over.back() = '\x7f';
    CHECK_FALSE(unpack_row(row_with_id(over), r));
    // Continuation bits up to the end of the row.
    CHECK_FALSE(unpack_row(row_with_id("\x80\x80\x80"), r));
    // The same in a later field (a signed one) and in a string's length.
    std::string b;
    pack_row(b, store_test::record(1, 2), false);
    auto ends = field_ends(b);
    std::string at_input = b.substr(0, ends[17]) + eleven;
    CHECK_FALSE(unpack_row(at_input, r));
    std::string at_error_len = b.substr(0, ends[15]) + eleven + "x";
    CHECK_FALSE(unpack_row(at_error_len, r));
    // And in a segment's row length.
    std::string seg = eleven + "x";
    SegmentCursor cur(seg);
    std::string_view row;
    CHECK_FALSE(cur.next(row));
    CHECK_FALSE(cur.ok());
}

TEST_CASE("store packed: an unknown format byte, or too few bytes, is refused") {
    std::string packed;
    pack_row(packed, store_test::record(1, 2), false);
    PackedRow r;
    REQUIRE(unpack_row(packed, r));
    for (int v : {0, 2, 3, 0x7f, 0x81, 0xff}) {
        CAPTURE(v);
        std::string b = packed;
        b[0] = static_cast<char>(v);
        CHECK_FALSE(unpack_row(b, r));
    }
    CHECK_FALSE(unpack_row("", r));
    CHECK_FALSE(unpack_row(std::string_view("\x01", 1), r));
    // Only the two bytes: every field at its default.
    REQUIRE(unpack_row(std::string_view("\x01\x04", 2), r));
    CHECK(r.flags == kPackedRouted);
    CHECK(fields(r) == fields(PackedRow{}));
}

TEST_CASE("store packed: bytes after the last known field are ignored (a later version's fields)") {
    for (bool plain : {true, false}) {
        CAPTURE(plain);
        std::string packed;
        pack_row(packed, plain ? store_test::record(9, 10) : full_record(), false);
        PackedRow want;
        REQUIRE(unpack_row(packed, want));
        const auto want_fields = fields(want);
        for (std::string extra : {std::string("\x05"), std::string("\x03new"), std::string(10, '\xff'),
                                  std::string("\xff\xff\xff"), std::string(1, '\0')}) {
            std::string b = packed + extra;
            PackedRow r;
            REQUIRE(unpack_row(b, r));
            CHECK(fields(r) == want_fields);
            CHECK(r.flags == want.flags);
        }
    }
}

TEST_CASE("store packed: a segment cursor walks its rows in order and stops at damage") {
    std::vector<std::string> rows(3);
    pack_row(rows[0], store_test::record(1, 100), false);
    pack_row(rows[1], full_record(), true);
    pack_row(rows[2], store_test::record(3, 300, "carol"), false);
    std::string segment;
    for (const auto& r : rows) append_to_segment(segment, r);

    auto walk = [](std::string_view seg, std::vector<std::string>& out) {
        SegmentCursor cur(seg);
        std::string_view row;
        while (out.size() < 100 && cur.next(row)) out.emplace_back(row);
        CHECK_FALSE(cur.next(row));  // stays at its end
        return cur.ok();
    };

    std::vector<std::string> got;
    CHECK(walk(segment, got));
    CHECK(got == rows);

    for (std::string garbage : {std::string("\x7f" "ab"), std::string("\x80"), std::string(11, '\x80'),
                                std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")}) {
        CAPTURE(garbage.size());
        got.clear();
        std::string damaged = segment + garbage;
        std::vector<char> buf(damaged.begin(), damaged.end());
        CHECK_FALSE(walk(std::string_view(buf.data(), buf.size()), got));
        CHECK(got == rows);
    }

    // An empty segment has no rows and nothing wrong; an empty row is a row
    // (which does not unpack).
    got.clear();
    CHECK(walk("", got));
    CHECK(got.empty());
    std::string with_empty;
    append_to_segment(with_empty, "");
    append_to_segment(with_empty, rows[0]);
    CHECK(walk(with_empty, got));
    REQUIRE(got.size() == 2);
    PackedRow r;
    CHECK_FALSE(unpack_row(got[0], r));
    CHECK(unpack_row(got[1], r));

    // A row of 200 bytes has a two-byte length.
    std::string big_row(200, 'x');
    std::string seg2;
    append_to_segment(seg2, big_row);
    CHECK(seg2.size() == 202);
    CHECK(seg2.substr(0, 2) == "\xc8\x01");
}

TEST_CASE("store packed: delta rows leave out what the row before had, and read back whole") {
    using namespace agd::store;
    auto a = store_test::record(41, 1'767'225'600'000);
    auto b = store_test::record(40, 1'767'225'599'990, "alice", "gpt-4o");  // an older id and time: negative deltas
    b.status = 502;
    b.error = "upstream failed";
    auto c = store_test::record(42, 1'767'225'600'100, "bob", "claude-x");
    std::string pa, pb, pc;
    pack_row(pa, a, false);
    pack_row(pb, b, false);
    pack_row(pc, c, false);
    PackedRow ra, rb, rc;
    REQUIRE(unpack_row(pa, ra));
    REQUIRE(unpack_row(pb, rb));
    REQUIRE(unpack_row(pc, rc));
    std::string db, dc;
    pack_delta(db, rb, ra);
    pack_delta(dc, rc, rb);
    CHECK(db.size() < pb.size() / 2);  // the same client, address, path, model, provider, credential
    CHECK(static_cast<uint8_t>(db[0]) == kPackedDelta);
    PackedRow xb, xc, none;
    CHECK_FALSE(unpack_row(db, xb));  // a delta row needs the row before it
    REQUIRE(unpack_row(db, xb, &ra));
    REQUIRE(unpack_row(dc, xc, &xb));
    CHECK(xb.request_id == 40);
    CHECK(xb.ts_ms == 1'767'225'599'990);
    CHECK(xb.status == 502);
    CHECK(xb.error == "upstream failed");
    CHECK(xb.client == "alice");
    CHECK(xb.model == "gpt-4o");
    CHECK(xc.request_id == 42);
    CHECK(xc.client == "bob");
    CHECK(xc.model == "claude-x");
    CHECK(xc.provider == "openai");
    CHECK(xc.error.empty());
    // A mask naming fields past the last is damage.
    size_t mask_end = 2;
    while (static_cast<uint8_t>(db[mask_end]) & 0x80) ++mask_end;
    std::string bad = db.substr(0, 2) + std::string("\x80\x80\x01", 3) + db.substr(mask_end + 1);  // bit 14
    CHECK_FALSE(unpack_row(bad, none, &ra));
}
