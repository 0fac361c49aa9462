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

void put_string(std::string& out, std::string_view s, size_t max) {
    s = cut_utf8(s, max);
    put_varint(out, s.size());
    out.append(s.data(), s.size());
}

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

void pack(std::string& out, const PackedRow& r) {
    out.clear();
    out.push_back(static_cast<char>(kPackedFormat));
    out.push_back(static_cast<char>(r.flags));
    put_varint(out, r.request_id);
    put_signed(out, r.ts_ms);
    put_string(out, r.client, kMaxNameBytes);
    put_string(out, r.addr, kMaxNameBytes);
    put_string(out, r.method, kMaxNameBytes);
    put_string(out, without_query(r.path), kMaxPathBytes);
    put_string(out, r.op, kMaxNameBytes);
    put_string(out, r.protocol, kMaxNameBytes);
    put_string(out, r.model, kMaxModelBytes);
    put_string(out, r.model_sent, kMaxModelBytes);
    put_string(out, r.provider, kMaxNameBytes);
    put_string(out, r.credential, kMaxNameBytes);
    put_varint(out, r.attempts);
    put_string(out, r.attempt_detail, kMaxAttemptDetailBytes);
    put_varint(out, r.status);
    put_varint(out, r.upstream_status);
    put_string(out, r.error, kMaxErrorBytes);
    put_string(out, r.limit, kMaxNameBytes);
    put_signed(out, r.input);
    put_signed(out, r.output);
    put_signed(out, r.cache_read);
    put_signed(out, r.cache_write);
    put_signed(out, r.reasoning);
    put_string(out, r.usage_state, kMaxNameBytes);
    put_signed(out, r.ttfb_us);
    put_signed(out, r.ttft_us);
    put_signed(out, r.total_us);
    put_varint(out, r.bytes_in);
    put_varint(out, r.bytes_out);
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

bool unpack_row(std::string_view bytes, PackedRow& r) {
    r = PackedRow{};
    if (bytes.size() < 2 || static_cast<uint8_t>(bytes[0]) != kPackedFormat) return false;
    r.flags = static_cast<uint8_t>(bytes[1]);
    Input in{bytes.substr(2)};
    // Each field in order; && stops at the first missing one (a row that
    // ends early), and damage is told apart by `damaged`.
    (void)(in.number(r.request_id) && in.number(r.ts_ms) && in.text(r.client) && in.text(r.addr) &&
           in.text(r.method) && in.text(r.path) && in.text(r.op) && in.text(r.protocol) && in.text(r.model) &&
           in.text(r.model_sent) && in.text(r.provider) && in.text(r.credential) && in.number(r.attempts) &&
           in.text(r.attempt_detail) && in.number(r.status) && in.number(r.upstream_status) && in.text(r.error) &&
           in.text(r.limit) && in.number(r.input) && in.number(r.output) && in.number(r.cache_read) &&
           in.number(r.cache_write) && in.number(r.reasoning) && in.text(r.usage_state) && in.number(r.ttfb_us) &&
           in.number(r.ttft_us) && in.number(r.total_us) && in.number(r.bytes_in) && in.number(r.bytes_out));
    return !in.damaged;
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
