#include "ratelimit.h"

#include <time.h>

#include <algorithm>

#include <fmt/format.h>

namespace mock {
namespace {

constexpr int64_t kOpenAiRequestLimit = 100;
constexpr int64_t kAnthropicRequestLimit = 50;
constexpr int64_t kTokensPerRequest = 1000;

// Go's fmtFrac: the digits of v's last `prec` decimal places, without
// trailing zeros (and without the point when they are all zero); v loses them.
std::string go_fraction(uint64_t& v, int prec) {
    std::string digits;
    bool print = false;
    for (int i = 0; i < prec; ++i) {
        char d = static_cast<char>('0' + v % 10);
        print = print || d != '0';
        if (print) digits.insert(digits.begin(), d);
        v /= 10;
    }
    return print ? "." + digits : std::string();
}

void add_openai(Headers& h, int64_t limit, int64_t remaining, int64_t reset_ns) {
    std::string reset = go_duration(reset_ns);
    h.emplace_back("x-ratelimit-limit-requests", std::to_string(limit));
    h.emplace_back("x-ratelimit-remaining-requests", std::to_string(remaining));
    h.emplace_back("x-ratelimit-reset-requests", reset);
    h.emplace_back("x-ratelimit-limit-tokens", std::to_string(limit * kTokensPerRequest));
    h.emplace_back("x-ratelimit-remaining-tokens", std::to_string(remaining * kTokensPerRequest));
    h.emplace_back("x-ratelimit-reset-tokens", reset);
}

void add_anthropic(Headers& h, std::string_view window, int64_t limit, int64_t remaining,
                   const std::string& reset) {
    h.emplace_back(fmt::format("anthropic-ratelimit-{}-limit", window), std::to_string(limit));
    h.emplace_back(fmt::format("anthropic-ratelimit-{}-remaining", window), std::to_string(remaining));
    h.emplace_back(fmt::format("anthropic-ratelimit-{}-reset", window), reset);
}

}  // namespace

int64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t{ts.tv_sec} * kSecondNs + ts.tv_nsec;
}

int64_t ceil_seconds(int64_t ns) { return ns <= 0 ? 0 : (ns + kSecondNs - 1) / kSecondNs; }

std::string go_duration(int64_t ns) {
    if (ns <= 0) return "0s";
    uint64_t u = static_cast<uint64_t>(ns);
    if (u < 1000) return fmt::format("{}ns", u);
    if (u < 1000000) {
        std::string frac = go_fraction(u, 3);
        return fmt::format("{}{}µs", u, frac);
    }
    if (u < static_cast<uint64_t>(kSecondNs)) {
        std::string frac = go_fraction(u, 6);
        return fmt::format("{}{}ms", u, frac);
    }
    std::string frac = go_fraction(u, 9);  // u: whole seconds from here
    std::string out = fmt::format("{}{}s", u % 60, frac);
    u /= 60;
    if (u > 0) {
        out = fmt::format("{}m{}", u % 60, out);
        u /= 60;
        if (u > 0) out = fmt::format("{}h{}", u, out);
    }
    return out;
}

std::string rfc3339(int64_t unix_s) {
    time_t t = static_cast<time_t>(unix_s);
    tm u{};
    gmtime_r(&t, &u);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", u.tm_year + 1900, u.tm_mon + 1,
                       u.tm_mday, u.tm_hour, u.tm_min, u.tm_sec);
}

std::string http_date(int64_t unix_s) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = static_cast<time_t>(unix_s);
    tm u{};
    gmtime_r(&t, &u);
    return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kDays[u.tm_wday % 7], u.tm_mday,
                       kMonths[u.tm_mon % 12], u.tm_year + 1900, u.tm_hour, u.tm_min, u.tm_sec);
}

void add_error_hints(Headers& h, const Script& s, Api api, int status, int64_t now_ns) {
    const int64_t wait = s.wait_ns;
    const int64_t at_s = ceil_seconds(now_ns + wait);  // the reset, in unix seconds
    const std::string wait_s = std::to_string(ceil_seconds(wait));
    // retry_after= yields to a hint that sends its own Retry-After.
    bool own_retry_after = s.hint == Hint::retry_after || s.hint == Hint::retry_after_date ||
                           s.hint == Hint::anthropic;
    if (s.retry_after && !own_retry_after) {
        h.emplace_back("Retry-After", *s.retry_after);
    }
    if (status == 429 && s.quota_key && api == Api::messages && s.hint != Hint::anthropic_unified) {
        // A subscription key's unified window, spent.
        h.emplace_back("anthropic-ratelimit-unified-status", "rejected");
        h.emplace_back("anthropic-ratelimit-unified-5h-status", "rejected");
        h.emplace_back("anthropic-ratelimit-unified-5h-reset",
                       std::to_string(now_ns / kSecondNs + 3600));
    }
    switch (s.hint) {
        case Hint::none:
        case Hint::gemini:  // in the body (error_body)
            break;
        case Hint::retry_after:
            h.emplace_back("Retry-After", wait_s);
            break;
        case Hint::retry_after_date:
            h.emplace_back("Retry-After", http_date(at_s));
            break;
        case Hint::retry_after_ms:
            h.emplace_back("retry-after-ms", std::to_string((wait + 999999) / 1000000));
            break;
        case Hint::openai:
            add_openai(h, kOpenAiRequestLimit, 0, wait);
            break;
        case Hint::anthropic:
            add_anthropic(h, "requests", kAnthropicRequestLimit, 0, rfc3339(at_s));
            h.emplace_back("retry-after", wait_s);
            break;
        case Hint::anthropic_unified: {
            std::string at = std::to_string(at_s);
            h.emplace_back("anthropic-ratelimit-unified-status", "rejected");
            h.emplace_back("anthropic-ratelimit-unified-reset", at);
            h.emplace_back("anthropic-ratelimit-unified-7d-status", "rejected");
            h.emplace_back("anthropic-ratelimit-unified-7d-reset", at);
            h.emplace_back("anthropic-ratelimit-unified-7d-utilization", "1.0");
            h.emplace_back("anthropic-ratelimit-unified-5h-status", "allowed");
            h.emplace_back("anthropic-ratelimit-unified-5h-utilization", "0.2");
            break;
        }
    }
}

void add_remaining_headers(Headers& h, const Script& s, Api api, int64_t now_ns) {
    if (!s.remaining || api == Api::gemini) return;
    const int64_t n = *s.remaining;
    if (api == Api::messages) {
        std::string reset = rfc3339(ceil_seconds(now_ns + s.reset_ns));
        int64_t limit = std::max(n, kAnthropicRequestLimit);
        add_anthropic(h, "requests", limit, n, reset);
        add_anthropic(h, "tokens", limit * kTokensPerRequest, n * kTokensPerRequest, reset);
        return;
    }
    add_openai(h, std::max(n, kOpenAiRequestLimit), n, s.reset_ns);
}

int64_t gemini_retry_delay_ns(const Script& s, Api api) {
    return api == Api::gemini && s.hint == Hint::gemini ? s.wait_ns : -1;
}

}  // namespace mock
