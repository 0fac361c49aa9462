// Reading limit hints from answers (credentials/hints.h).
#include "credentials/hints.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <rapidjson/reader.h>

namespace agd::credentials {

namespace {

std::string cut(std::string_view s) { return std::string(s.substr(0, kMaxHintText)); }

bool ieq_prefix(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

// A non-negative decimal number with an optional fraction, kept exact:
// whole and up to 9 fraction digits (more are dropped). False when not.
struct Decimal {
    uint64_t whole = 0;
    uint64_t frac = 0;  // the fraction's first `digits` digits
    int digits = 0;
};

bool parse_decimal(std::string_view& s, Decimal& out) {
    size_t i = 0;
    Decimal d;
    bool any = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (d.whole > 100'000'000'000ULL) return false;  // far past any hint
        d.whole = d.whole * 10 + static_cast<uint64_t>(s[i] - '0');
        ++i;
        any = true;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (d.digits < 9) {
                d.frac = d.frac * 10 + static_cast<uint64_t>(s[i] - '0');
                ++d.digits;
            }
            ++i;
            any = true;
        }
    }
    if (!any) return false;
    s.remove_prefix(i);
    out = d;
    return true;
}

// `d` units of `unit_ns` nanoseconds, in nanoseconds, rounded up; -1 past kMaxHintMs.
int64_t scaled_ns(const Decimal& d, uint64_t unit_ns) {
    constexpr uint64_t kMaxNs = static_cast<uint64_t>(kMaxHintMs) * 1'000'000;
    if (d.whole > kMaxNs / unit_ns) return -1;
    uint64_t ns = d.whole * unit_ns;
    uint64_t pow10 = 1;
    for (int i = 0; i < d.digits; ++i) pow10 *= 10;
    // frac / 10^digits of a unit, rounded up, without overflow: frac <
    // 10^digits, so frac * (unit / 10^digits) < unit, and frac * (unit %
    // 10^digits) < 10^18.
    ns += d.frac * (unit_ns / pow10) + (d.frac * (unit_ns % pow10) + pow10 - 1) / pow10;
    return ns > kMaxNs ? -1 : static_cast<int64_t>(ns);
}

int64_t ms_of_ns(int64_t ns) { return ns < 0 ? -1 : (ns + 999'999) / 1'000'000; }

// A plain number (seconds, as Retry-After and bare durations give them).
int64_t seconds_ms(std::string_view s) {
    Decimal d;
    if (!parse_decimal(s, d) || !s.empty()) return -1;
    return ms_of_ns(scaled_ns(d, 1'000'000'000));
}

bool parse_int(std::string_view s, int64_t& out) {
    if (s.empty() || s.size() > 18) return false;
    int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

void longest(int64_t& into, int64_t ms) {
    if (ms >= 0 && ms > into) into = ms;
}

// The wall-clock time a window is whole again, from a duration.
int64_t reset_after(std::string_view duration, int64_t now_unix_ms) {
    int64_t ms = parse_duration_ms(trim(duration));
    return ms < 0 ? -1 : now_unix_ms + ms;
}

int64_t unix_seconds_ms(std::string_view text) {
    Decimal d;
    std::string_view s = trim(text);
    if (!parse_decimal(s, d) || !s.empty() || d.whole > 100'000'000'000ULL) return -1;
    return static_cast<int64_t>(d.whole) * 1000 + ms_of_ns(scaled_ns(Decimal{0, d.frac, d.digits}, 1'000'000'000));
}

// 0..1; a value over 1 (up to 100) is read as a percentage.
double utilization(std::string_view text) {
    Decimal d;
    std::string_view s = trim(text);
    if (!parse_decimal(s, d) || !s.empty() || d.whole > 100) return -1;
    double v = static_cast<double>(d.whole);
    double scale = 1;
    for (int i = 0; i < d.digits; ++i) scale *= 10;
    v += static_cast<double>(d.frac) / scale;
    if (v > 100) return -1;
    return v > 1 ? v / 100 : v;
}

void window_field(Window& w, std::string_view what, std::string_view value, bool rfc3339, int64_t now) {
    if (what == "remaining") {
        int64_t n;
        if (parse_int(trim(value), n)) w.remaining = n;
    } else if (what == "reset") {
        int64_t at = rfc3339 ? parse_rfc3339_ms(trim(value)) : reset_after(value, now);
        if (at >= 0) w.reset_unix_ms = at;
    }
}

// The walk over an error body: a stack of the keys leading to the current
// value (the innermost kMaxHintDepth), matched by their last names.
class Walk : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Walk> {
public:
    explicit Walk(Hints& out) : out_(out) {}

    bool Key(const char* s, rapidjson::SizeType n, bool) {
        if (depth_ > 0 && depth_ <= kMaxHintDepth) keys_[depth_ - 1].assign(s, std::min<size_t>(n, 64));
        return true;
    }
    bool StartObject() { return enter(); }
    bool EndObject(rapidjson::SizeType) { return leave(); }
    bool StartArray() {
        if (!enter()) return false;
        if (depth_ <= kMaxHintDepth) keys_[depth_ - 1] = "[]";
        return true;
    }
    bool EndArray(rapidjson::SizeType) { return leave(); }
    bool String(const char* s, rapidjson::SizeType n, bool) {
        value(std::string_view(s, n));
        return true;
    }
    bool Default() { return true; }  // numbers, booleans, null: nothing read from them

private:
    bool enter() {
        ++depth_;
        if (depth_ <= kMaxHintDepth) keys_[depth_ - 1].clear();
        return true;
    }
    bool leave() {
        if (depth_ > 0) --depth_;
        return true;
    }
    // The key at `up` levels above the value's own (0: its own key).
    std::string_view key(unsigned up) const {
        if (depth_ == 0 || depth_ > kMaxHintDepth || up >= depth_) return {};
        return keys_[depth_ - 1 - up];
    }
    void value(std::string_view v) {
        if (depth_ > kMaxHintDepth) return;
        std::string_view k = key(0), parent = key(1);
        // The error object: {"error":{...}}, or the same inside a top-level
        // array (a Gemini stream's error: [{"error":{...}}]).
        unsigned at = keys_[0] == "error" ? 0 : keys_[0] == "[]" && depth_ >= 2 && keys_[1] == "error" ? 1 : 99;
        bool under_error = at != 99 && depth_ >= at + 2;
        if (under_error && depth_ == at + 2) {
            if (k == "type" || k == "status") {
                if (out_.error_type.empty()) out_.error_type = cut(v);
            } else if (k == "code") {
                if (out_.error_code.empty()) out_.error_code = cut(v);
            } else if (k == "message") {
                if (out_.message.empty()) out_.message = cut(v);
            }
            return;
        }
        if (k == "retryDelay" || k == "quotaResetDelay") {
            longest(out_.retry_after_ms, parse_duration_ms(v));
        } else if (k == "quotaId") {
            if (out_.quota_id.empty()) out_.quota_id = cut(v);
        } else if (k == "model" && (parent == "quotaDimensions" || parent == "metadata")) {
            if (out_.quota_model.empty()) out_.quota_model = cut(v);
        } else if (k == "reason" && under_error) {
            if (out_.error_code.empty()) out_.error_code = cut(v);
        }
    }

    Hints& out_;
    unsigned depth_ = 0;
    std::array<std::string, kMaxHintDepth> keys_;
};

}  // namespace

bool Hints::any() const {
    auto window = [](const Window& w) { return w.remaining >= 0 || w.reset_unix_ms >= 0; };
    auto unified = [](const Unified& u) { return !u.status.empty() || u.reset_unix_ms >= 0 || u.utilization >= 0; };
    return retry_after_ms >= 0 || window(requests) || window(tokens) || window(input_tokens) ||
           window(output_tokens) || !unified_status.empty() || unified_reset_unix_ms >= 0 || unified(unified_5h) ||
           unified(unified_7d) || !error_type.empty() || !error_code.empty() || !message.empty() ||
           !quota_id.empty() || !quota_model.empty();
}

int64_t parse_duration_ms(std::string_view s) {
    s = trim(s);
    if (s.empty() || s.size() > 64) return -1;
    if (int64_t ms = seconds_ms(s); ms >= 0) return ms;  // a plain number: seconds
    int64_t total = 0;
    bool any = false;
    while (!s.empty()) {
        Decimal d;
        if (!parse_decimal(s, d)) return -1;
        uint64_t unit;
        if (ieq_prefix(s, "ms")) {
            unit = 1'000'000;
            s.remove_prefix(2);
        } else if (ieq_prefix(s, "us")) {
            unit = 1'000;
            s.remove_prefix(2);
        } else if (ieq_prefix(s, "\xC2\xB5s")) {
            unit = 1'000;
            s.remove_prefix(3);
        } else if (ieq_prefix(s, "ns")) {
            unit = 1;
            s.remove_prefix(2);
        } else if (ieq_prefix(s, "h")) {
            unit = 3'600'000'000'000ULL;
            s.remove_prefix(1);
        } else if (ieq_prefix(s, "m")) {
            unit = 60'000'000'000ULL;
            s.remove_prefix(1);
        } else if (ieq_prefix(s, "s")) {
            unit = 1'000'000'000ULL;
            s.remove_prefix(1);
        } else if (ieq_prefix(s, "d")) {
            unit = 86'400'000'000'000ULL;
            s.remove_prefix(1);
        } else {
            return -1;
        }
        int64_t ns = scaled_ns(d, unit);
        if (ns < 0 || total > static_cast<int64_t>(kMaxHintMs) * 1'000'000 - ns) return -1;
        total += ns;
        any = true;
    }
    return any ? ms_of_ns(total) : -1;
}

int64_t parse_rfc3339_ms(std::string_view s) {
    s = trim(s);
    // YYYY-MM-DDTHH:MM:SS
    if (s.size() < 19 || s.size() > 40) return -1;
    auto num = [&](size_t at, size_t n, int& out) {
        int v = 0;
        for (size_t i = at; i < at + n; ++i) {
            if (s[i] < '0' || s[i] > '9') return false;
            v = v * 10 + (s[i] - '0');
        }
        out = v;
        return true;
    };
    int year, mon, day, hour, min, sec;
    if (!num(0, 4, year) || s[4] != '-' || !num(5, 2, mon) || s[7] != '-' || !num(8, 2, day) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, hour) || s[13] != ':' || !num(14, 2, min) ||
        s[16] != ':' || !num(17, 2, sec))
        return -1;
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon < 1 || mon > 12 || day < 1 || hour > 23 || min > 59 || sec > 60) return -1;
    if (day > kDays[mon - 1] + (mon == 2 && leap ? 1 : 0)) return -1;
    size_t i = 19;
    int64_t frac_ms = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        size_t start = i;
        int digits = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (digits < 3) {
                frac_ms = frac_ms * 10 + (s[i] - '0');
                ++digits;
            }
            ++i;
        }
        if (i == start) return -1;
        for (; digits < 3; ++digits) frac_ms *= 10;
    }
    int64_t offset_s = 0;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!num(i + 1, 2, oh) || !num(i + 4, 2, om) || oh > 23 || om > 59) return -1;
        offset_s = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return -1;
    }
    if (i != s.size()) return -1;
    tm t{};
    t.tm_year = year - 1900;
    t.tm_mon = mon - 1;
    t.tm_mday = day;
    t.tm_hour = hour;
    t.tm_min = min;
    t.tm_sec = sec;
    time_t secs = timegm(&t);
    if (secs == static_cast<time_t>(-1)) return -1;
    return (static_cast<int64_t>(secs) - offset_s) * 1000 + frac_ms;
}

int64_t parse_retry_after_ms(std::string_view text, int64_t now_unix_ms) {
    std::string_view s = trim(text);
    if (s.empty() || s.size() > 64) return -1;
    if (int64_t ms = seconds_ms(s); ms >= 0) return ms;
    char buf[65];
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    tm t{};
    const char* end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &t);
    if (end == nullptr || *end != '\0') return -1;
    time_t when = timegm(&t);
    if (when == static_cast<time_t>(-1)) return -1;
    int64_t ms = static_cast<int64_t>(when) * 1000 - now_unix_ms;
    ms = std::max<int64_t>(ms, 0);
    return ms > kMaxHintMs ? -1 : ms;
}

void read_headers(const Headers& headers, int64_t now, Hints& out) {
    for (const auto& [name, value] : headers) {
        std::string_view n = name;
        if (n.size() > 80) continue;
        if (n == "retry-after") {
            longest(out.retry_after_ms, parse_retry_after_ms(value, now));
        } else if (n == "retry-after-ms") {
            std::string_view v = trim(value);
            Decimal d;
            if (parse_decimal(v, d) && v.empty()) longest(out.retry_after_ms, ms_of_ns(scaled_ns(d, 1'000'000)));
        } else if (ieq_prefix(n, "x-ratelimit-")) {
            // x-ratelimit-remaining-requests, x-ratelimit-reset-tokens, ...
            std::string_view rest = n.substr(12);
            auto dash = rest.find('-');
            if (dash == std::string_view::npos) continue;
            std::string_view what = rest.substr(0, dash), which = rest.substr(dash + 1);
            Window* w = which == "requests" ? &out.requests : which == "tokens" ? &out.tokens : nullptr;
            if (w) window_field(*w, what, value, false, now);
        } else if (ieq_prefix(n, "anthropic-ratelimit-unified-")) {
            std::string_view rest = n.substr(28);
            Hints::Unified* u = nullptr;
            if (ieq_prefix(rest, "5h-")) {
                u = &out.unified_5h;
                rest.remove_prefix(3);
            } else if (ieq_prefix(rest, "7d-")) {
                u = &out.unified_7d;
                rest.remove_prefix(3);
            }
            if (rest == "status") {
                (u ? u->status : out.unified_status) = cut(trim(value));
            } else if (rest == "reset") {
                int64_t at = unix_seconds_ms(value);
                if (at < 0) at = parse_rfc3339_ms(value);
                if (at >= 0) (u ? u->reset_unix_ms : out.unified_reset_unix_ms) = at;
            } else if (rest == "utilization" && u) {
                u->utilization = utilization(value);
            }
        } else if (ieq_prefix(n, "anthropic-ratelimit-")) {
            // anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}
            std::string_view rest = n.substr(20);
            auto dash = rest.rfind('-');
            if (dash == std::string_view::npos) continue;
            std::string_view which = rest.substr(0, dash), what = rest.substr(dash + 1);
            Window* w = which == "requests"        ? &out.requests
                        : which == "tokens"        ? &out.tokens
                        : which == "input-tokens"  ? &out.input_tokens
                        : which == "output-tokens" ? &out.output_tokens
                                                   : nullptr;
            if (w) window_field(*w, what, value, true, now);
        }
    }
}

void read_error_body(std::string_view body, Hints& out) {
    body = body.substr(0, kMaxHintBody);
    std::string text(body);  // NUL-terminated for the reader
    Walk walk(out);
    rapidjson::Reader reader;
    rapidjson::StringStream is(text.c_str());
    reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag>(is, walk);
    // A body cut at kMaxHintBody, or not JSON: what was read before the
    // error stays, the rest is unknown.
}

}  // namespace agd::credentials
