// What an answer says about the caller's limits: reset hints on error
// answers (hint=, wait=, retry_after=, quota=key) and remaining-quota
// headers on success answers (remaining=, reset=), in each API's own
// header formats.
#pragma once

#include <cstdint>
#include <string>

#include "formats.h"
#include "http_out.h"
#include "script.h"

namespace mock {

// CLOCK_REALTIME in nanoseconds.
int64_t realtime_ns();

// A Go time.Duration as Go prints it: "6m0s", "1h2m3s", "1.5s", "20ms",
// "250µs", "0s".
std::string go_duration(int64_t ns);
// "2026-12-04T12:00:00Z" (UTC, whole seconds).
std::string rfc3339(int64_t unix_s);
// IMF-fixdate: "Fri, 04 Dec 2026 12:00:00 GMT".
std::string http_date(int64_t unix_s);
// Whole seconds, rounded up.
int64_t ceil_seconds(int64_t ns);

// Headers of an error answer: retry_after=, the quota=key subscription
// window (Anthropic 429) and the hint= headers, for an answer at now_ns.
void add_error_hints(Headers& h, const Script& s, Api api, int status, int64_t now_ns);

// The remaining-quota headers of a success answer (none for Gemini or
// without remaining=).
void add_remaining_headers(Headers& h, const Script& s, Api api, int64_t now_ns);

// Gemini's RetryInfo delay for this answer, or -1 when it has none.
int64_t gemini_retry_delay_ns(const Script& s, Api api);

}  // namespace mock
