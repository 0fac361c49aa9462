#include "clients/client_state.h"

#include <time.h>

#include <algorithm>
#include <cstdio>

#include "config/config.h"

namespace agd::clients {
namespace {

constexpr int64_t kMinuteUs = 60'000'000;
constexpr int64_t kMaxAheadUs = 366LL * 86'400 * 1'000'000;  // a debt is never pushed further than a year

int64_t ceil_s(int64_t us) { return std::max<int64_t>(1, (us + 999'999) / 1'000'000); }

int64_t local_midnight(int y, int m, int d) {  // m 1-based; d may overflow (mktime normalizes)
    tm t{};
    t.tm_year = y - 1900;
    t.tm_mon = m - 1;
    t.tm_mday = d;
    t.tm_isdst = -1;
    return static_cast<int64_t>(mktime(&t));
}

std::string plural(uint64_t n, const char* what) { return std::to_string(n) + " " + what; }

}  // namespace

Calendar calendar_at(int64_t unix_s) {
    time_t t = static_cast<time_t>(unix_s);
    tm lt{};
    localtime_r(&t, &lt);
    int y = lt.tm_year + 1900, m = lt.tm_mon + 1, d = lt.tm_mday;
    Calendar c;
    c.day = y * 10000 + m * 100 + d;
    c.month = y * 100 + m;
    c.day_id = static_cast<uint32_t>((y - 1970) * 372 + (m - 1) * 31 + (d - 1)) & 0xfffff;
    c.month_id = static_cast<uint32_t>((y - 1970) * 12 + (m - 1)) & 0xfffff;
    c.day_start = local_midnight(y, m, d);
    c.day_end = local_midnight(y, m, d + 1);
    c.month_start = local_midnight(y, m, 1);
    c.month_end = local_midnight(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1);
    return c;
}

std::string day_text(int yyyymmdd) {
    char buf[16];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100);
    return buf;
}

int64_t monotonic_us() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

const Calendar& calendar_now(int64_t unix_s) {
    thread_local Calendar cached;
    if (cached.day == 0 || unix_s >= cached.day_end || unix_s < cached.day_start) cached = calendar_at(unix_s);
    return cached;
}

void ClientState::add(std::atomic<uint64_t>& packed, uint32_t period, uint64_t n) {
    uint64_t cur = packed.load(std::memory_order_relaxed);
    for (;;) {
        uint64_t count = (cur >> kShift) == period ? cur & kMaxCount : 0;
        if ((cur >> kShift) > period && (cur >> kShift) != 0) return;  // a later period already counts: this is late
        uint64_t next = (static_cast<uint64_t>(period) << kShift) | std::min(kMaxCount, count + std::min(n, kMaxCount));
        if (packed.compare_exchange_weak(cur, next, std::memory_order_relaxed)) return;
    }
}

uint64_t ClientState::read(const std::atomic<uint64_t>& packed, uint32_t period) {
    uint64_t cur = packed.load(std::memory_order_relaxed);
    return (cur >> kShift) == period ? cur & kMaxCount : 0;
}

void ClientState::seed(const Calendar& cal, uint64_t day_tokens, uint64_t month_tokens) {
    add(day_, cal.day_id, day_tokens);
    add(month_, cal.month_id, month_tokens);
}

Refusal ClientState::admit(const config::ClientConfig& cfg, const std::string& name, int64_t now_us, int64_t unix_s) {
    Refusal r;
    auto refuse = [&](const char* limit, int64_t retry_s, std::string message) {
        limited_.fetch_add(1, std::memory_order_relaxed);
        r.limit = limit;
        r.retry_after_s = std::max<int64_t>(1, retry_s);
        r.message = "client '" + name + "': " + message + "; retry in " + std::to_string(r.retry_after_s) + " s";
        return r;
    };
    if (cfg.daily_tokens || cfg.monthly_tokens) {
        const Calendar& cal = calendar_now(unix_s);
        if (cfg.daily_tokens && read(day_, cal.day_id) >= cfg.daily_tokens)
            return refuse("daily_tokens", cal.day_end - unix_s,
                          "daily token limit reached (" + plural(cfg.daily_tokens, "tokens per day") + ")");
        if (cfg.monthly_tokens && read(month_, cal.month_id) >= cfg.monthly_tokens)
            return refuse("monthly_tokens", cal.month_end - unix_s,
                          "monthly token limit reached (" + plural(cfg.monthly_tokens, "tokens per month") + ")");
    }
    if (cfg.tpm) {
        int64_t debt = tpm_tat_us_.load(std::memory_order_relaxed) - now_us;
        if (debt > kMinuteUs)
            return refuse("tpm", ceil_s(debt - kMinuteUs),
                          "token rate limit reached (" + plural(cfg.tpm, "tokens per minute") + ")");
    }
    int64_t flying = in_flight_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (cfg.max_concurrent && flying > static_cast<int64_t>(cfg.max_concurrent)) {
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        return refuse("max_concurrent", 1,
                      "too many requests in flight (max_concurrent = " + std::to_string(cfg.max_concurrent) + ")");
    }
    if (cfg.rpm) {
        int64_t step = kMinuteUs / static_cast<int64_t>(std::min<uint64_t>(cfg.rpm, kMinuteUs));
        int64_t tolerance = kMinuteUs - step;
        int64_t tat = rpm_tat_us_.load(std::memory_order_relaxed);
        for (;;) {
            int64_t t = std::max(tat, now_us);
            if (t - now_us > tolerance) {
                in_flight_.fetch_sub(1, std::memory_order_relaxed);
                return refuse("rpm", ceil_s(t - now_us - tolerance),
                              "request rate limit reached (" + plural(cfg.rpm, "requests per minute") + ")");
            }
            if (rpm_tat_us_.compare_exchange_weak(tat, t + step, std::memory_order_relaxed)) break;
        }
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    return r;
}

void ClientState::release() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

void ClientState::charge(const config::ClientConfig& cfg, int64_t tokens, int64_t now_us, int64_t unix_s) {
    if (tokens <= 0) return;
    const Calendar& cal = calendar_now(unix_s);
    add(day_, cal.day_id, static_cast<uint64_t>(tokens));
    add(month_, cal.month_id, static_cast<uint64_t>(tokens));
    if (!cfg.tpm) return;
    double per_token = static_cast<double>(kMinuteUs) / static_cast<double>(cfg.tpm);
    auto push = static_cast<int64_t>(std::min(static_cast<double>(kMaxAheadUs), per_token * static_cast<double>(tokens)));
    int64_t tat = tpm_tat_us_.load(std::memory_order_relaxed);
    for (;;) {
        int64_t next = std::min(std::max(tat, now_us) + push, now_us + kMaxAheadUs);
        if (tpm_tat_us_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return;
    }
}

}  // namespace agd::clients
