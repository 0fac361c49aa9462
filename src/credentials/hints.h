// Hints: what an upstream says about a credential's limits, read from every
// answer's headers and from the body of an error answer.
//
//   Retry-After (seconds or an HTTP date), retry-after-ms;
//   OpenAI x-ratelimit-{remaining,reset}-{requests,tokens} (resets as
//     durations: "6m0s", "1.5s", "20ms");
//   Anthropic anthropic-ratelimit-{requests,tokens,input-tokens,
//     output-tokens}-{remaining,reset} (resets in RFC 3339) and the unified
//     windows of subscription credentials, anthropic-ratelimit-unified-
//     {status,reset} and -{5h,7d}-{status,reset,utilization} (resets in
//     unix seconds);
//   error bodies: the type, code and message of each wire's error object;
//     Gemini's google.rpc details: RetryInfo.retryDelay, QuotaFailure
//     violations (quotaId, the model in quotaDimensions), ErrorInfo
//     (reason, metadata.quotaResetDelay, metadata.model).
//
// Everything here comes from a peer: sizes are bounded, text is cut, the
// JSON walk is iterative and stops at a fixed depth, and a value that does
// not parse is ignored (the hint is then unknown, never a guess).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agd::credentials {

using Headers = std::vector<std::pair<std::string, std::string>>;  // names lower-cased

inline constexpr size_t kMaxHintText = 200;           // type, code, quota id, model, message: cut to this
inline constexpr size_t kMaxHintBody = 64 * 1024;     // bytes of an error body read for hints
inline constexpr unsigned kMaxHintDepth = 16;         // JSON levels walked; deeper values are skipped
inline constexpr int64_t kMaxHintMs = 400LL * 86'400'000;  // a hint further than this is not believed

// A limit window an upstream reported: what is left and when it is whole
// again. -1: not reported.
struct Window {
    int64_t remaining = -1;
    int64_t reset_unix_ms = -1;
};

struct Hints {
    // How long to wait, from Retry-After / retry-after-ms / a RetryInfo /
    // a quotaResetDelay (the longest of those given). -1: none.
    int64_t retry_after_ms = -1;

    Window requests, tokens, input_tokens, output_tokens;

    // Anthropic's unified windows (subscription credentials).
    std::string unified_status;  // allowed, allowed_warning, rejected (cut)
    int64_t unified_reset_unix_ms = -1;
    struct Unified {
        std::string status;
        int64_t reset_unix_ms = -1;
        double utilization = -1;  // 0..1 (a percentage sent is divided by 100)
    } unified_5h, unified_7d;

    // From the error body.
    std::string error_type;   // Anthropic/OpenAI error.type, Gemini error.status
    std::string error_code;   // OpenAI error.code, Gemini ErrorInfo.reason
    std::string message;      // error.message
    std::string quota_id;     // the first QuotaFailure violation's quotaId
    std::string quota_model;  // the model a quota names (quotaDimensions.model, ErrorInfo metadata.model)

    bool any() const;  // anything was read
};

// Reads the headers of an answer (any status). `now_unix_ms`: the wall
// clock, for HTTP dates and durations.
void read_headers(const Headers& headers, int64_t now_unix_ms, Hints& out);
// Reads an error answer's body (its first kMaxHintBody bytes).
void read_error_body(std::string_view body, Hints& out);

// "6m0s", "1h2m3.5s", "20ms", "37s", "539.47ms", "1.5" (seconds): a Go or
// protobuf duration, in ms (rounded up). -1 when it does not parse or is
// negative or past kMaxHintMs.
int64_t parse_duration_ms(std::string_view text);
// "2026-12-04T12:00:00Z", with fractions and offsets: unix ms, -1 when not.
int64_t parse_rfc3339_ms(std::string_view text);
// Retry-After: delta-seconds or an HTTP date; ms from now, -1 when not.
int64_t parse_retry_after_ms(std::string_view text, int64_t now_unix_ms);

}  // namespace agd::credentials
