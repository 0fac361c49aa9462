// Directives carried in the model name: "base+key=value+key=value...".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mock {

// hint=FORMAT: how an error answer says when to come back (see ratelimit.h).
enum class Hint { none, retry_after, retry_after_date, retry_after_ms, openai, anthropic,
                  anthropic_unified, gemini };

inline constexpr int64_t kSecondNs = 1000000000;

struct Script {
    std::string base;                    // model name before the first '+'
    int chunks = 3;                      // text pieces (1..kMaxChunks)
    int64_t pace_ns = 0;                 // delay between streamed pieces
    int64_t delay_ns = 0;                // delay before the response headers
    int64_t hold_ns = 0;                 // pause after the first streamed piece
    int64_t first_hold_ns = 0;           // pause after the opening events, before the first piece
    int status = 0;                      // HTTP error status to answer with (0 = none)
    std::optional<std::string> retry_after;  // Retry-After value (decimal seconds)
    std::optional<std::vector<std::string>> fail_cred;  // credentials that get the error
    std::optional<std::vector<std::string>> slow_cred;  // credentials that get delay, first_hold, hold and pace
    std::optional<int> reset_after;      // RST after this many pieces
    std::optional<int> mid_error;        // in-stream error after this many pieces
    bool noterm = false;                 // omit the protocol's terminal event
    bool stamp = false;                  // append @<monotonic ns> to each piece marker
    std::size_t size = 0;                // pad the non-stream text to this many bytes
    std::size_t piece_size = 0;          // pad each streamed piece to this many bytes
    int calls = 1;                       // parallel tool calls when tools are offered (0: text)
    bool think = false;                  // start the answer with reasoning
    int cached = 0;                      // cached prompt tokens reported in the usage
    bool hangup = false;                 // close the connection instead of answering
    bool hangup_reused = false;          // the same, but not on a connection's first request
    bool conn_close = false;             // answer with Connection: close, then close
    bool both_lengths = false;           // a chunked stream that also sends Content-Length: 1
    int deep_args = 0;                   // tool-call arguments nested this deep (0 = from the schema)
    bool quota_key = false;              // quota=key: a 429 is key-wide (billing, a subscription window, a project quota)
    Hint hint = Hint::none;              // reset hint on an error answer
    int64_t wait_ns = 60 * kSecondNs;    // when the hint says the limit resets
    std::optional<int64_t> remaining;    // remaining-quota headers on a success answer
    int64_t reset_ns = 60 * kSecondNs;   // when those headers say the window resets
    int fail_times = 0;                  // only the first N requests (per model and credential) fail
    bool auth_oauth = false;             // auth=oauth: the credential must be a live mock access token
};

inline constexpr int kMaxChunks = 100000;
inline constexpr int kMaxCalls = 64;
inline constexpr int kMaxDeepArgs = 1000000;
inline constexpr int kMaxCached = 1000000000;
inline constexpr std::size_t kMaxPad = 64u << 20;
inline constexpr int64_t kMaxDurationNs = int64_t{24} * 3600 * kSecondNs;
inline constexpr int64_t kMaxHintNs = int64_t{400} * 86400 * kSecondNs;  // wait=, reset=
inline constexpr int64_t kMaxRemaining = 1000000000;
inline constexpr int kMaxFailTimes = 1000000;

// Parses a duration such as "20ms", "1s", "1.5s", "250us", "2m", "5h", "7d"
// or a bare number (milliseconds). Returns nanoseconds, or nothing if
// malformed or above max_ns.
std::optional<int64_t> parse_duration(std::string_view text, int64_t max_ns = kMaxDurationNs);

// Splits the model on '+' and reads the directives. Unknown keys and
// malformed values are ignored (the default stays in force).
Script parse_script(std::string_view model);

// The HTTP error status this request must get, or 0 for a normal answer.
int error_status_for(const Script& script, std::string_view credential);

// With slow_cred set, a request by another credential is not slowed:
// delay, first_hold, hold and pace are cleared.
void apply_slow_cred(Script& script, std::string_view credential);

}  // namespace mock
