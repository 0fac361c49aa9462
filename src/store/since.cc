// Local days and months, and --since (store/since.h).
#include "store/since.h"

#include <ctime>

namespace agd::store {

namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

std::tm local_tm(int64_t t) {
    std::tm tm{};
    auto tt = static_cast<std::time_t>(t);
    localtime_r(&tt, &tm);
    return tm;
}

// mktime of a local wall-clock time, nullopt when that date does not exist
// (mktime would move 2026-02-30 to March).
std::optional<int64_t> make_local(int y, int mon, int d, int h, int mi, int s) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    std::time_t t = std::mktime(&tm);
    if (t == static_cast<std::time_t>(-1) || tm.tm_mday != d || tm.tm_mon != mon - 1) return std::nullopt;
    return static_cast<int64_t>(t);
}

std::optional<int64_t> make_utc(int y, int mon, int d, int h, int mi, int s) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    std::time_t t = timegm(&tm);
    if (t == static_cast<std::time_t>(-1) || tm.tm_mday != d || tm.tm_mon != mon - 1) return std::nullopt;
    return static_cast<int64_t>(t);
}

std::optional<int64_t> parse_duration_back(std::string_view text, int64_t now_s) {
    if (text.size() < 2) return std::nullopt;
    int64_t unit = 0;
    switch (text.back()) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        default: return std::nullopt;
    }
    int64_t n = 0;
    for (size_t i = 0; i + 1 < text.size(); ++i) {
        char c = text[i];
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
        if (n > 100LL * 365 * 86400) return std::nullopt;  // a century is plenty
    }
    return now_s - n * unit;
}

std::optional<int64_t> parse_date_time(std::string_view s) {
    int y, mon, d;
    if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mon) || s[7] != '-' ||
        !digits(s, 8, 2, d))
        return std::nullopt;
    if (mon < 1 || mon > 12 || d < 1 || d > 31) return std::nullopt;
    if (s.size() == 10) return make_local(y, mon, d, 0, 0, 0);
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
    int h, mi, sec = 0;
    if (!digits(s, 11, 2, h) || s.size() < 16 || s[13] != ':' || !digits(s, 14, 2, mi)) return std::nullopt;
    size_t pos = 16;
    if (pos < s.size() && s[pos] == ':') {
        if (!digits(s, pos + 1, 2, sec)) return std::nullopt;
        pos += 3;
        // Fractions of a second are read and ignored.
        if (pos < s.size() && s[pos] == '.') {
            ++pos;
            size_t start = pos;
            while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
            if (pos == start) return std::nullopt;
        }
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
    if (pos == s.size()) return make_local(y, mon, d, h, mi, sec);
    std::string_view zone = s.substr(pos);
    if (zone == "Z" || zone == "z") return make_utc(y, mon, d, h, mi, sec);
    if (zone[0] != '+' && zone[0] != '-') return std::nullopt;
    int oh, om;
    if (zone.size() == 6 && zone[3] == ':') {
        if (!digits(zone, 1, 2, oh) || !digits(zone, 4, 2, om)) return std::nullopt;
    } else if (zone.size() == 5) {
        if (!digits(zone, 1, 2, oh) || !digits(zone, 3, 2, om)) return std::nullopt;
    } else if (zone.size() == 3) {
        if (!digits(zone, 1, 2, oh)) return std::nullopt;
        om = 0;
    } else {
        return std::nullopt;
    }
    if (oh > 23 || om > 59) return std::nullopt;
    auto utc = make_utc(y, mon, d, h, mi, sec);
    if (!utc) return std::nullopt;
    int64_t offset = (oh * 3600 + om * 60) * (zone[0] == '-' ? -1 : 1);
    return *utc - offset;
}

}  // namespace

int64_t local_day_start(int64_t now_s) {
    std::tm tm = local_tm(now_s);
    auto t = make_local(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, 0, 0, 0);
    return t ? *t : now_s - now_s % 86400;
}

int64_t local_month_start(int64_t now_s) {
    std::tm tm = local_tm(now_s);
    auto t = make_local(tm.tm_year + 1900, tm.tm_mon + 1, 1, 0, 0, 0);
    return t ? *t : local_day_start(now_s);
}

std::optional<int64_t> parse_since(std::string_view text, int64_t now_s) {
    if (text == "today") return local_day_start(now_s);
    if (text == "yesterday") return local_day_start(local_day_start(now_s) - 1);
    if (text == "month") return local_month_start(now_s);
    if (text.size() >= 10 && text[4] == '-') return parse_date_time(text);
    return parse_duration_back(text, now_s);
}

}  // namespace agd::store
