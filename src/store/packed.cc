// The store's packed rows and segments (store/packed.h).
#include "store/packed.h"

#include <fmt/core.h>

#include "config/config.h"
#include "record/record.h"
#include "store/schema.h"

namespace agd::store {

namespace {

void put_varint(std::string& out, uint64_t v) {
    char buf[10];
    size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
        v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out.append(buf, n);
}

uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void put_signed(std::string& out, int64_t v) { put_varint(out, zigzag(v)); }


// The path without its query string: a Gemini client may send its key as
// ?key=..., and keys are never stored.
std::string_view without_query(std::string_view path) {
    auto q = path.find_first_of("?#");
    return q == std::string_view::npos ? path : path.substr(0, q);
}

// Reads from the front of `in`. Each getter fails (false) on damage and
// leaves the field untouched at the end of the bytes (`in` empty): a row
// that ends early keeps its remaining defaults.
struct Input {
    std::string_view in;
    bool damaged = false;

    bool varint(uint64_t& v) {
        if (in.empty()) return false;
        uint64_t r = 0;
        for (unsigned shift = 0, i = 0; i < in.size(); ++i, shift += 7) {
            auto b = static_cast<uint8_t>(in[i]);
            if (shift == 63 && b > 1) break;  // more than 64 bits
            r |= static_cast<uint64_t>(b & 0x7F) << shift;
            if ((b & 0x80) == 0) {
                in.remove_prefix(i + 1);
                v = r;
                return true;
            }
            if (shift == 63) break;
        }
        damaged = true;
        in = {};
        return false;
    }
    bool number(uint64_t& v) { return varint(v); }
    bool number(int64_t& v) {
        uint64_t u;
        if (!varint(u)) return false;
        v = unzigzag(u);
        return true;
    }
    bool text(std::string_view& s) {
        uint64_t n;
        if (!varint(n)) return false;
        if (n > in.size()) {
            damaged = true;
            in = {};
            return false;
        }
        s = in.substr(0, static_cast<size_t>(n));
        in.remove_prefix(static_cast<size_t>(n));
        return true;
    }
};

}  // namespace

std::string_view cut_utf8(std::string_view s, size_t max) {
    if (s.size() <= max) return s;
    size_t n = max;
    // Back over continuation bytes to the start of the sequence that was cut
    // (at most 3), and drop that start too.
    size_t back = 0;
    while (n > 0 && back < 3 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
        --n;
        ++back;
    }
    return s.substr(0, n);
}

std::string attempt_detail(const record::RequestRecord& rec) {
    std::string out;
    attempt_detail(out, rec);
    return out;
}

void attempt_detail(std::string& out, const record::RequestRecord& rec) {
    out.clear();
    for (const auto& a : rec.attempts) {
        if (out.size() >= kMaxAttemptDetailBytes) break;
        std::string_view provider = "?";
        if (rec.config != nullptr && a.provider >= 0 &&
            static_cast<size_t>(a.provider) < rec.config->providers.size())
            provider = rec.config->providers[static_cast<size_t>(a.provider)].name;
        else if (a.provider == rec.provider && !rec.provider_name.empty())
            provider = rec.provider_name;
        if (!out.empty()) out += ',';
        fmt::format_to(std::back_inserter(out), "{}/{}:{}:{}", cut_utf8(provider, kMaxNameBytes),
                       cut_utf8(a.credential, kMaxNameBytes), a.status, record::attempt_outcome_name(a.outcome));
    }
    if (out.size() > kMaxAttemptDetailBytes) out.resize(cut_utf8(out, kMaxAttemptDetailBytes).size());
}

namespace {

// The fields of a packed row after its two bytes, in order: visit() hands
// each to `v` (ids and times apart: a delta row stores them as differences)
// and stops at the first that `v` refuses (a row that ends early).
// String field i is kStrings[i]; its bound kStringMax[i].
constexpr std::string_view PackedRow::*kStrings[] = {
    &PackedRow::client,   &PackedRow::addr,     &PackedRow::method,     &PackedRow::path,
    &PackedRow::op,       &PackedRow::protocol, &PackedRow::model,      &PackedRow::model_sent,
    &PackedRow::provider, &PackedRow::credential, &PackedRow::attempt_detail, &PackedRow::error,
    &PackedRow::limit,    &PackedRow::usage_state};
constexpr size_t kStringMax[] = {kMaxNameBytes,  kMaxNameBytes, kMaxNameBytes,  kMaxPathBytes, kMaxNameBytes,
                                 kMaxNameBytes,  kMaxModelBytes, kMaxModelBytes, kMaxNameBytes, kMaxNameBytes,
                                 kMaxAttemptDetailBytes, kMaxErrorBytes, kMaxNameBytes, kMaxNameBytes};
constexpr unsigned kStringCount = std::size(kStrings);
static_assert(kStringCount == OwnedRow::kStringFields);

template <class Row, class V>
bool visit(Row& r, V& v) {
    return v.id(r.request_id) && v.ts(r.ts_ms) && v.str(0, r.client) && v.str(1, r.addr) && v.str(2, r.method) &&
           v.str(3, r.path) && v.str(4, r.op) && v.str(5, r.protocol) && v.str(6, r.model) &&
           v.str(7, r.model_sent) && v.str(8, r.provider) && v.str(9, r.credential) && v.num(r.attempts) &&
           v.str(10, r.attempt_detail) && v.num(r.status) && v.num(r.upstream_status) && v.str(11, r.error) &&
           v.str(12, r.limit) && v.num(r.input) && v.num(r.output) && v.num(r.cache_read) &&
           v.num(r.cache_write) && v.num(r.reasoning) && v.str(13, r.usage_state) && v.num(r.ttfb_us) &&
           v.num(r.ttft_us) && v.num(r.total_us) && v.num(r.bytes_in) && v.num(r.bytes_out);
}

// A string field as stored: cut to its bound (the path also before its query).
std::string_view stored(unsigned i, std::string_view s) {
    if (i == 3) s = without_query(s);
    return cut_utf8(s, kStringMax[i]);
}

// Writes a row; with `prev`, as a delta row: the strings equal to prev's
// (bit i of `same`) left out, id and time as differences.
struct Writer {
    std::string& out;
    const PackedRow* prev = nullptr;
    uint32_t same = 0;
    bool id(uint64_t v) {
        if (prev)
            put_signed(out, static_cast<int64_t>(v - prev->request_id));
        else
            put_varint(out, v);
        return true;
    }
    bool ts(int64_t v) {
        put_signed(out, prev ? static_cast<int64_t>(static_cast<uint64_t>(v) - static_cast<uint64_t>(prev->ts_ms)) : v);
        return true;
    }
    bool str(unsigned i, std::string_view v) {
        if ((same >> i) & 1) return true;
        std::string_view s = stored(i, v);
        put_varint(out, s.size());
        out.append(s.data(), s.size());
        return true;
    }
    bool num(uint64_t v) {
        put_varint(out, v);
        return true;
    }
    bool num(int64_t v) {
        put_signed(out, v);
        return true;
    }
};

// Reads a row; with `prev`, a delta row against it.
struct Reader {
    Input& in;
    const PackedRow* prev = nullptr;
    uint32_t same = 0;
    bool id(uint64_t& v) {
        if (!prev) return in.number(v);
        int64_t d;
        if (!in.number(d)) return false;
        v = prev->request_id + static_cast<uint64_t>(d);
        return true;
    }
    bool ts(int64_t& v) {
        if (!in.number(v)) return false;
        if (prev) v = static_cast<int64_t>(static_cast<uint64_t>(prev->ts_ms) + static_cast<uint64_t>(v));
        return true;
    }
    bool str(unsigned i, std::string_view& v) {
        if ((same >> i) & 1) {
            v = prev->*kStrings[i];
            return true;
        }
        return in.text(v);
    }
    bool num(uint64_t& v) { return in.number(v); }
    bool num(int64_t& v) { return in.number(v); }
};

}  // namespace

void OwnedRow::assign(const PackedRow& r) {
    row = r;
    for (unsigned i = 0; i < kStringCount; ++i) {
        text[i].assign(r.*kStrings[i]);
        row.*kStrings[i] = text[i];
    }
}

void pack(std::string& out, const PackedRow& r) {
    out.clear();
    out.push_back(static_cast<char>(kPackedFormat));
    out.push_back(static_cast<char>(r.flags));
    Writer w{out};
    visit(r, w);
}

void pack_delta(std::string& out, const PackedRow& r, const PackedRow& prev) {
    uint32_t same = 0;
    for (unsigned i = 0; i < kStringCount; ++i)
        if (stored(i, r.*kStrings[i]) == prev.*kStrings[i]) same |= 1u << i;
    out.push_back(static_cast<char>(kPackedDelta));
    out.push_back(static_cast<char>(r.flags));
    put_varint(out, same);
    Writer w{out, &prev, same};
    visit(r, w);
}

void pack_row(std::string& out, const record::RequestRecord& rec, bool bodies) {
    PackedRow r;
    if (rec.stream) r.flags |= kPackedStream;
    if (rec.upstream) r.flags |= kPackedUpstream | kPackedProtocol;
    if (rec.provider >= 0) r.flags |= kPackedRouted;
    if (bodies) r.flags |= kPackedBodies;
    r.request_id = rec.id;
    r.ts_ms = rec.unix_ms;
    r.client = rec.client_name;
    r.addr = rec.addr;
    r.method = rec.method;
    r.path = rec.path;
    r.op = operation_name(rec.op);
    if (rec.upstream) r.protocol = protocol_name(rec.protocol);
    r.model = rec.model;
    r.model_sent = rec.model_sent;
    r.provider = rec.provider_name;
    r.credential = rec.credential;
    r.attempts = rec.attempts.size();
    // One plain attempt, the row's own provider, credential and status,
    // that went well: the detail would repeat the row (the reader rebuilds
    // it, plain_attempt_detail). Spelled out otherwise.
    thread_local std::string detail;
    detail.clear();
    bool plain = rec.attempts.size() == 1 && rec.attempts[0].outcome == record::AttemptOutcome::Ok &&
                 rec.attempts[0].provider == rec.provider && rec.attempts[0].credential == rec.credential &&
                 rec.attempts[0].status == rec.upstream_status && !rec.provider_name.empty();
    if (!rec.attempts.empty() && !plain) attempt_detail(detail, rec);
    r.attempt_detail = detail;
    r.status = rec.status > 0 ? static_cast<uint64_t>(rec.status) : 0;
    r.upstream_status = rec.upstream_status > 0 ? static_cast<uint64_t>(rec.upstream_status) : 0;
    r.error = rec.error;
    r.limit = rec.limit;
    r.input = rec.usage.input;
    r.output = rec.usage.output;
    r.cache_read = rec.usage.cache_read;
    r.cache_write = rec.usage.cache_write;
    r.reasoning = rec.usage.reasoning;
    r.usage_state = record::usage_state_name(rec.usage_state);
    r.ttfb_us = rec.ttfb_us;
    r.ttft_us = rec.ttft_us;
    r.total_us = rec.total_us;
    r.bytes_in = rec.bytes_in;
    r.bytes_out = rec.bytes_out;
    pack(out, r);
}

bool unpack_row(std::string_view bytes, PackedRow& r, const PackedRow* prev) {
    PackedRow row;
    if (bytes.size() < 2) return false;
    auto format = static_cast<uint8_t>(bytes[0]);
    row.flags = static_cast<uint8_t>(bytes[1]);
    Input in{bytes.substr(2)};
    Reader rd{in};
    if (format == kPackedDelta) {
        uint64_t same = 0;
        if (prev == nullptr || !in.number(same) || same >= (1u << kStringCount)) return false;
        rd.prev = prev;
        rd.same = static_cast<uint32_t>(same);
    } else if (format != kPackedFormat) {
        return false;
    }
    // Each field in order; the walk stops at the first missing one (a row
    // that ends early), and damage is told apart by `damaged`.
    (void)visit(row, rd);
    if (in.damaged) return false;
    r = row;
    return true;
}

std::string plain_attempt_detail(const PackedRow& r) {
    if (r.attempts != 1 || !r.attempt_detail.empty() || r.provider.empty()) return std::string(r.attempt_detail);
    return fmt::format("{}/{}:{}:ok", r.provider, r.credential, r.upstream_status);
}

void append_to_segment(std::string& segment, std::string_view packed) {
    put_varint(segment, packed.size());
    segment.append(packed.data(), packed.size());
}

bool SegmentCursor::next(std::string_view& packed) {
    if (!ok_ || rest_.empty()) return false;
    Input in{rest_};
    std::string_view row;
    if (!in.text(row)) {
        ok_ = false;
        return false;
    }
    rest_ = in.in;
    packed = row;
    return true;
}

}  // namespace agd::store
