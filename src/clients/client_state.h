// ClientState: what a named client used, shared by every worker and kept
// across reloads (clients::Registry, keyed by the client's name). Its limits
// come from the config snapshot of each request, so a reload that changes a
// limit applies it to the counts already made.
//
// Windows, without locks (each a compare-and-swap on one atomic):
//   rpm, tpm: GCRA (the "virtual scheduling" form of a token bucket): a
//     theoretical arrival time that each request (rpm) or each token used
//     (tpm) pushes forward by 60 s / limit. A request is refused while it is
//     more than a minute ahead: a full minute's worth was used. Tokens are
//     known after the answer, so tpm refuses the requests after the one
//     that spent the window.
//   daily_tokens, monthly_tokens: a count for the current calendar day /
//     month (server local time), restarted when the day / month turns,
//     seeded at start from the usage store.
//   max_concurrent: requests in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace agd::config {
struct ClientConfig;
}

namespace agd::clients {

// Local calendar: the day (YYYYMMDD) and month (YYYYMM) of a unix time, and
// when they end. Cached per thread; localtime_r runs once a day.
struct Calendar {
    int day = 0;           // YYYYMMDD
    int month = 0;         // YYYYMM
    uint32_t day_id = 0;   // a small number per day, for the packed counters
    uint32_t month_id = 0;
    int64_t day_end = 0;   // unix seconds of the next local midnight
    int64_t month_end = 0; // unix seconds of the first of next month, local midnight
    int64_t day_start = 0;
    int64_t month_start = 0;
};
Calendar calendar_at(int64_t unix_s);        // computes (localtime_r)
// "2027-03-31" for 20270331.
std::string day_text(int yyyymmdd);
// CLOCK_MONOTONIC in microseconds (the rpm and tpm windows' clock).
int64_t monotonic_us();
const Calendar& calendar_now(int64_t unix_s);  // this thread's cached one, recomputed when the day is over

struct Refusal {
    const char* limit = nullptr;  // "rpm", "tpm", "daily_tokens", "monthly_tokens", "max_concurrent"; nullptr: admitted
    int64_t retry_after_s = 0;
    std::string message;
    explicit operator bool() const { return limit != nullptr; }
};

class ClientState {
public:
    // Admits one request (counting it in flight and in the rpm window) or
    // says which limit refuses it. `now_us` is CLOCK_MONOTONIC, `unix_s`
    // the wall clock (calendar windows). An admitted request must be
    // release()d once.
    Refusal admit(const config::ClientConfig& cfg, const std::string& name, int64_t now_us, int64_t unix_s);
    void release();
    // Tokens an answer used (input + output), counted in every window.
    void charge(const config::ClientConfig& cfg, int64_t tokens, int64_t now_us, int64_t unix_s);

    // Start-up: the tokens already used today and this month (from the
    // store), added to what was counted since.
    void seed(const Calendar& cal, uint64_t day_tokens, uint64_t month_tokens);

    // For status and metrics.
    int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
    uint64_t tokens_today(const Calendar& cal) const { return read(day_, cal.day_id); }
    uint64_t tokens_this_month(const Calendar& cal) const { return read(month_, cal.month_id); }
    uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
    uint64_t limited() const { return limited_.load(std::memory_order_relaxed); }

private:
    // A calendar count: the period's id in the top 20 bits, tokens below.
    static constexpr int kShift = 44;
    static constexpr uint64_t kMaxCount = (1ull << kShift) - 1;
    static void add(std::atomic<uint64_t>& packed, uint32_t period, uint64_t n);
    static uint64_t read(const std::atomic<uint64_t>& packed, uint32_t period);

    std::atomic<int64_t> in_flight_{0};
    std::atomic<int64_t> rpm_tat_us_{0};
    std::atomic<int64_t> tpm_tat_us_{0};
    std::atomic<uint64_t> day_{0};
    std::atomic<uint64_t> month_{0};
    std::atomic<uint64_t> requests_{0};
    std::atomic<uint64_t> limited_{0};
};

}  // namespace agd::clients
