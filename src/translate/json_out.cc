#include "translate/json_out.h"

#include <rapidjson/internal/dtoa.h>
#include <rapidjson/internal/itoa.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace agd::translate {
namespace {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

uint64_t load8(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Bytes a JSON string cannot hold as they are: control characters, `"`, `\`.
// The high bit of each such byte of v (little-endian: the first byte lowest)
// that needs an escape, and perhaps of bytes above the first such one (a
// borrow runs upward from it): the lowest bit set is always a true one.
uint64_t escapes8(uint64_t v) {
    uint64_t control = (v - kOnes * 0x20) & ~v;
    uint64_t quote = v ^ (kOnes * '"');
    quote = (quote - kOnes) & ~quote;
    uint64_t backslash = v ^ (kOnes * '\\');
    backslash = (backslash - kOnes) & ~backslash;
    return (control | quote | backslash) & kHighs;
}

size_t first_in(uint64_t mask) { return static_cast<size_t>(__builtin_ctzll(mask)) >> 3; }

// The length of the leading run of s that needs no escape: 16 bytes at a
// time, then 8, then the last few bytes in one word (a string shorter than
// 8 bytes, as most keys are, in a word padded with spaces).
size_t clean_run(const char* s, size_t n) {
    if (n < 8) {
        uint64_t v = kOnes * ' ';
        std::memcpy(&v, s, n);
        uint64_t m = escapes8(v);
        return m ? first_in(m) : n;
    }
    size_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i control = _mm_set1_epi8(0x1F);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
        // v <= 0x1F (unsigned) exactly when max(v, 0x1F) == 0x1F.
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                   _mm_cmpeq_epi8(_mm_max_epu8(v, control), control));
        if (int mask = _mm_movemask_epi8(bad)) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
#endif
    for (; i + 8 <= n; i += 8)
        if (uint64_t m = escapes8(load8(s + i))) return i + first_in(m);
    if (i == n) return n;
    // The last 1-7 bytes: the word ending at the end of s, without the
    // bytes already looked at.
    size_t seen = 8 - (n - i);
    uint64_t m = escapes8(load8(s + n - 8)) & (~0ULL << (8 * seen));
    return m ? n - 8 + first_in(m) : n;
}

void escape(std::string& out, unsigned char c) {
    static const char hex[] = "0123456789ABCDEF";
    char e[6] = {'\\', 0, 0, 0, 0, 0};
    size_t n = 2;
    switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 0xF];
            n = 6;
            break;
    }
    out.append(e, n);
}

}  // namespace

bool JsonOut::literal(const char* s, size_t n) {
    if (comma_) out_->push_back(',');
    out_->append(s, n);
    comma_ = true;
    return true;
}

bool JsonOut::open(char c) {
    if (comma_) out_->push_back(',');
    out_->push_back(c);
    comma_ = false;
    return true;
}

bool JsonOut::close(char c) {
    out_->push_back(c);
    comma_ = true;
    return true;
}

bool JsonOut::Null() { return literal("null", 4); }
bool JsonOut::Bool(bool b) { return b ? literal("true", 4) : literal("false", 5); }
bool JsonOut::RawNumber(const char* s, rapidjson::SizeType n, bool) { return literal(s, n); }
bool JsonOut::RawValue(const char* s, size_t n, rapidjson::Type) { return literal(s, n); }
bool JsonOut::StartObject() { return open('{'); }
bool JsonOut::EndObject(rapidjson::SizeType) { return close('}'); }
bool JsonOut::StartArray() { return open('['); }
bool JsonOut::EndArray(rapidjson::SizeType) { return close(']'); }

bool JsonOut::String(const char* s, rapidjson::SizeType n, bool) {
    quoted(s, n, false);
    comma_ = true;
    return true;
}

bool JsonOut::Key(const char* s, rapidjson::SizeType n, bool) {
    quoted(s, n, true);
    comma_ = false;
    return true;
}

void JsonOut::quoted(const char* s, size_t n, bool key) {
    std::string& out = *out_;
    size_t run = clean_run(s, n);
    if (run == n) {
        // Nothing to escape (keys, and most values): the comma, quotes,
        // text and colon go in with one capacity check and one copy.
        size_t at = out.size(), extra = comma_ + n + 2 + key;
        out.append(extra, '"');
        char* p = &out[at];
        if (comma_) *p++ = ',';
        std::memcpy(p + 1, s, n);
        if (key) p[n + 2] = ':';
        return;
    }
    if (comma_) out.push_back(',');
    out.push_back('"');
    for (size_t i = 0;;) {
        out.append(s + i, run);
        i += run;
        if (i == n) break;
        escape(out, static_cast<unsigned char>(s[i++]));
        run = clean_run(s + i, n - i);
    }
    out.push_back('"');
    if (key) out.push_back(':');
}

bool JsonOut::Int(int i) {
    char buf[16];
    return literal(buf, static_cast<size_t>(rapidjson::internal::i32toa(i, buf) - buf));
}

bool JsonOut::Uint(unsigned u) {
    char buf[16];
    return literal(buf, static_cast<size_t>(rapidjson::internal::u32toa(u, buf) - buf));
}

bool JsonOut::Int64(int64_t i) {
    char buf[24];
    return literal(buf, static_cast<size_t>(rapidjson::internal::i64toa(i, buf) - buf));
}

bool JsonOut::Uint64(uint64_t u) {
    char buf[24];
    return literal(buf, static_cast<size_t>(rapidjson::internal::u64toa(u, buf) - buf));
}

bool JsonOut::Double(double d) {
    if (!std::isfinite(d)) return Null();
    char buf[32];
    return literal(buf, static_cast<size_t>(rapidjson::internal::dtoa(d, buf) - buf));
}

}  // namespace agd::translate
