// Sizes ("100M") and durations ("30s", "1m30s") from the config file.
#include "common/units.h"

#include <cctype>
#include <limits>
#include <string>

namespace agd {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// Reads the decimal digits at text[pos...]; false on none or on overflow.
bool read_number(std::string_view text, std::size_t& pos, uint64_t& out) {
    std::size_t start = pos;
    uint64_t v = 0;
    while (pos < text.size() && is_digit(text[pos])) {
        auto d = static_cast<uint64_t>(text[pos] - '0');
        if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
        v = v * 10 + d;
        ++pos;
    }
    if (pos == start) return false;
    out = v;
    return true;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t& out) {
    if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return true;
    out = a * b;
    return false;
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view text) {
    std::size_t pos = 0;
    uint64_t n = 0;
    if (!read_number(text, pos, n)) return std::nullopt;
    std::string_view unit = text.substr(pos);
    uint64_t mult = 1;
    if (unit.empty() || iequals(unit, "b")) {
        mult = 1;
    } else {
        uint64_t base = 0;
        switch (lower(unit[0])) {
            case 'k': base = 1ull << 10; break;
            case 'm': base = 1ull << 20; break;
            case 'g': base = 1ull << 30; break;
            case 't': base = 1ull << 40; break;
            default: return std::nullopt;
        }
        std::string_view rest = unit.substr(1);
        if (!(rest.empty() || iequals(rest, "b") || iequals(rest, "ib"))) return std::nullopt;
        mult = base;
    }
    uint64_t out = 0;
    if (mul_overflows(n, mult, out)) return std::nullopt;
    return out;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    using Rep = std::chrono::milliseconds::rep;
    constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<Rep>::max());
    std::size_t pos = 0;
    uint64_t total = 0;
    bool bare_allowed = true;  // a bare number (seconds) only as the whole text
    while (pos < text.size()) {
        uint64_t n = 0;
        if (!read_number(text, pos, n)) return std::nullopt;
        std::size_t ustart = pos;
        while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
        std::string_view unit = text.substr(ustart, pos - ustart);
        uint64_t mult = 0;
        if (unit.empty()) {
            if (!bare_allowed || pos != text.size()) return std::nullopt;
            mult = 1000;
        } else if (unit == "ms") {
            mult = 1;
        } else if (unit == "s") {
            mult = 1000;
        } else if (unit == "m") {
            mult = 60'000;
        } else if (unit == "h") {
            mult = 3'600'000;
        } else if (unit == "d") {
            mult = 86'400'000;
        } else {
            return std::nullopt;
        }
        bare_allowed = false;
        uint64_t part = 0;
        if (mul_overflows(n, mult, part)) return std::nullopt;
        if (part > kMax - total) return std::nullopt;
        total += part;
    }
    return std::chrono::milliseconds(static_cast<Rep>(total));
}

std::optional<uint64_t> parse_count(std::string_view text) {
    std::size_t pos = 0;
    uint64_t n = 0;
    if (!read_number(text, pos, n)) return std::nullopt;
    std::string_view unit = text.substr(pos);
    uint64_t mult = 1;
    if (unit.size() > 1) return std::nullopt;
    if (unit.size() == 1) {
        switch (lower(unit[0])) {
            case 'k': mult = 1'000; break;
            case 'm': mult = 1'000'000; break;
            case 'g': mult = 1'000'000'000; break;
            default: return std::nullopt;
        }
    }
    uint64_t out = 0;
    if (mul_overflows(n, mult, out)) return std::nullopt;
    return out;
}

}  // namespace agd
