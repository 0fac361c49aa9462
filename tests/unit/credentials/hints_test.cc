#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include <pthread.h>

#include "credentials/hints.h"

using agd::credentials::Headers;
using agd::credentials::Hints;
using agd::credentials::kMaxHintBody;
using agd::credentials::kMaxHintDepth;
using agd::credentials::kMaxHintMs;
using agd::credentials::kMaxHintText;
using agd::credentials::parse_duration_ms;
using agd::credentials::parse_retry_after_ms;
using agd::credentials::parse_rfc3339_ms;
using agd::credentials::read_error_body;
using agd::credentials::read_headers;

namespace {

// 2026-01-01T00:00:00Z, a Thursday: every test's wall clock.
constexpr int64_t kNow = 1'767'225'600'000;

Hints body_hints(std::string_view body) {
    Hints h;
    read_error_body(body, h);
    return h;
}

// Runs `fn` on a thread with a small stack (256 KiB): a parse that
// recursed once per level of nesting would overflow it.
bool on_small_stack(const std::function<void()>& fn) {
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return false;
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t thread;
    auto body = [](void* arg) -> void* {
        (*static_cast<const std::function<void()>*>(arg))();
        return nullptr;
    };
    int rc = pthread_create(&thread, &attr, body, const_cast<std::function<void()>*>(&fn));
    pthread_attr_destroy(&attr);
    return rc == 0 && pthread_join(thread, nullptr) == 0;
}

Hints header_hints(const Headers& headers, int64_t now = kNow) {
    Hints h;
    read_headers(headers, now, h);
    return h;
}

// Real error bodies, as each upstream sends them.
const char* const kOpenAiTpm429 =
    R"({"error":{"message":"Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): )"
    R"(Limit 30000, Used 29000, Requested 2000. Please try again in 6.5s.","type":"tokens","param":null,)"
    R"("code":"rate_limit_exceeded"}})";

const char* const kOpenAiQuota429 =
    R"({
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "type": "insufficient_quota",
        "param": null,
        "code": "insufficient_quota"
    }
})";

const char* const kAnthropic429 =
    R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit )"
    R"(for your organization (org-x) of 50,000 input tokens per minute. For details, refer to: )"
    R"(https://docs.claude.com/en/api/rate-limits."},"request_id":"req_011CUa3kXw5h7s1x9bHcBq2Z"})";

const char* const kAnthropic529 =
    R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CUa3mNnP2"})";

const char* const kGeminiPerModel429 = R"({
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {
              "location": "global",
              "model": "gemini-2.0-flash"
            },
            "quotaValue": "15"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [
          {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "43s"
      }
    ]
  }
})";

const char* const kGeminiProject429 = R"({
  "error": {
    "code": 429,
    "message": "Quota exceeded for quota metric 'Generate Content API requests per minute' and limit 'GenerateContent request limit per minute for a region' of service 'generativelanguage.googleapis.com' for consumer 'project_number:123456789012'.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
            "quotaId": "GenerateContentRequestsPerMinutePerProjectPerRegion",
            "quotaDimensions": {
              "location": "us-central1"
            },
            "quotaValue": "300"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "6m0s"
      }
    ]
  }
})";

const char* const kCloudCode429 = R"({
  "error": {
    "code": 429,
    "message": "You have exhausted your capacity on this model. Your quota will reset after 0s.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "cloudcode-pa.googleapis.com",
        "metadata": {
          "quotaResetDelay": "539.477544ms",
          "quotaResetTimeStamp": "2026-01-01T00:00:01Z",
          "model": "gemini-2.5-pro"
        }
      }
    ]
  }
})";

}  // namespace

TEST_CASE("hints: parse_duration_ms reads Go and protobuf durations, rounded up") {
    struct Case {
        const char* text;
        int64_t ms;
    };
    const Case cases[] = {
        {"6m0s", 360'000},
        {"1h2m3.5s", 3'723'500},
        {"20ms", 20},
        {"37s", 37'000},
        {"0s", 0},
        {"1.5s", 1'500},
        {"539.477544ms", 540},  // protobuf duration with a fraction of a ms: rounded up
        {"0.2ms", 1},
        {"250us", 1},
        {"1\xC2\xB5s", 1},      // Go's "µs"
        {"1.5", 1'500},         // a plain number is seconds
        {"43", 43'000},
        {" 37s ", 37'000},      // surrounding blanks
        {"9600h", kMaxHintMs},  // exactly 400 days: still believed
        {"", -1},
        {"   ", -1},
        {"abc", -1},
        {"5x", -1},
        {"s", -1},
        {"ms", -1},
        {".s", -1},
        {"-3s", -1},
        {"3s5", -1},         // a number without its unit
        {"6m 0s", -1},       // no blanks inside
        {"1.5e3s", -1},
        {"9601h", -1},       // past 400 days
        {"401d", -1},
        {"99999999999h", -1},
        {"99999999999999999999s", -1},
        {"999999999999999999999999999999", -1},
    };
    for (const auto& c : cases) {
        INFO("text: ", std::string(c.text));
        CHECK(parse_duration_ms(c.text) == c.ms);
    }
    // Longer than any duration an upstream writes (64 bytes): not read.
    std::string hours;
    for (int i = 0; i < 32; ++i) hours += "1h";
    CHECK(parse_duration_ms(hours) == 32 * 3'600'000LL);
    CHECK(parse_duration_ms(hours + "1h") == -1);
}

TEST_CASE("hints: parse_rfc3339_ms reads times with fractions and offsets") {
    struct Case {
        const char* text;
        int64_t ms;
    };
    const Case cases[] = {
        {"2026-01-01T00:00:00Z", kNow},
        {"2026-12-04T12:00:00Z", 1'796'385'600'000},
        {"2024-02-29T12:00:00Z", 1'709'208'000'000},  // a leap day
        {"2026-01-01T00:00:00.5Z", kNow + 500},
        {"2026-01-01T00:00:00.250Z", kNow + 250},
        {"2026-01-01T00:00:00.123456789Z", kNow + 123},
        {"2026-01-01T00:00:30Z", kNow + 30'000},
        {"2026-01-01t00:00:00z", kNow},
        {"2026-01-01 00:00:00Z", kNow},
        {" 2026-01-01T00:00:00Z ", kNow},
        {"2026-01-01T02:00:00+02:00", kNow},
        {"2025-12-31T18:30:00-05:30", kNow},
        {"2026-01-01T05:30:00.5+05:30", kNow + 500},
        {"2026-01-01T00:00:00+00:00", kNow},
        // Not RFC 3339, or out of range.
        {"", -1},
        {"not a date", -1},
        {"2026-01-01", -1},
        {"2026-01-01T00:00:00", -1},  // no zone
        {"2026-13-01T00:00:00Z", -1},
        {"2026-00-10T00:00:00Z", -1},
        {"2026-01-00T00:00:00Z", -1},
        {"2026-01-32T00:00:00Z", -1},
        {"2026-01-01T24:00:00Z", -1},
        {"2026-01-01T00:60:00Z", -1},
        {"2026-01-01T00:00:61Z", -1},
        {"2026-1-01T00:00:00Z", -1},
        {"2026/01/01T00:00:00Z", -1},
        {"2026-01-01X00:00:00Z", -1},
        {"2026-01-01T00:00:00.Z", -1},
        {"2026-01-01T00:00:00Zjunk", -1},
        {"2026-01-01T00:00:00Z0", -1},
        {"2026-01-01T00:00:00+02:00junk", -1},
        {"2026-01-01T00:00:00+0200", -1},
        {"2026-01-01T00:00:00+24:00", -1},
        {"2026-01-01T00:00:00+02:60", -1},
        {"2026-01-01T00:00:00+aa:00", -1},
        {"2026-01-01T00:00:00.123456789012345678901Z", -1},  // longer than 40
    };
    for (const auto& c : cases) {
        INFO("text: ", std::string(c.text));
        CHECK(parse_rfc3339_ms(c.text) == c.ms);
    }
}

TEST_CASE("hints: parse_retry_after_ms reads delta-seconds and HTTP dates") {
    struct Case {
        const char* text;
        int64_t now;
        int64_t ms;
    };
    const Case cases[] = {
        {"120", kNow, 120'000},
        {"0", kNow, 0},
        {"1.5", kNow, 1'500},
        {" 30 ", kNow, 30'000},
        {"34560000", kNow, kMaxHintMs},  // 400 days
        {"34560001", kNow, -1},
        {"Thu, 01 Jan 2026 00:02:00 GMT", kNow, 120'000},
        {"Thu, 01 Jan 2026 00:02:00 GMT", kNow + 250, 119'750},  // from now, to the ms
        {"Wed, 31 Dec 2025 23:00:00 GMT", kNow, 0},               // in the past: now
        {"Thu, 01 Jan 2026 00:00:00 GMT", kNow + 1, 0},
        {"Fri, 01 Jan 2100 00:00:00 GMT", kNow, -1},  // past 400 days
        {"", kNow, -1},
        {"soon", kNow, -1},
        {"-5", kNow, -1},
        {"1e3", kNow, -1},
        {"5s", kNow, -1},
        {"Thu, 01 Jan 2026 00:02:00", kNow, -1},            // no zone
        {"Thu, 01 Jan 2026 00:02:00 GMT extra", kNow, -1},  // trailing junk
        {"Thu, 32 Jan 2026 00:02:00 GMT", kNow, -1},
        {"2026-01-01T00:02:00Z", kNow, -1},
    };
    for (const auto& c : cases) {
        INFO("text: ", std::string(c.text));
        CAPTURE(c.now);
        CHECK(parse_retry_after_ms(c.text, c.now) == c.ms);
    }
    CHECK(parse_retry_after_ms(std::string(70, ' ') + "1", kNow) == 1'000);  // blanks trimmed first
    CHECK(parse_retry_after_ms(std::string(70, '0') + "1", kNow) == -1);     // longer than 64
}

TEST_CASE("hints: read_headers takes the longest of retry-after and retry-after-ms") {
    struct Case {
        const char* name;
        Headers headers;
        int64_t ms;
    };
    const Case cases[] = {
        {"retry-after alone", {{"retry-after", "2"}}, 2'000},
        {"retry-after-ms alone", {{"retry-after-ms", "1234.5"}}, 1'235},
        {"ms longer", {{"retry-after", "2"}, {"retry-after-ms", "2500"}}, 2'500},
        {"seconds longer", {{"retry-after-ms", "1500"}, {"retry-after", "2"}}, 2'000},
        {"seconds longer, other order", {{"retry-after", "2"}, {"retry-after-ms", "1500"}}, 2'000},
        {"date", {{"retry-after", "Thu, 01 Jan 2026 00:01:00 GMT"}}, 60'000},
        {"garbage ms ignored", {{"retry-after-ms", "soon"}, {"retry-after", "3"}}, 3'000},
        {"garbage only", {{"retry-after-ms", "12ms"}, {"retry-after", "later"}}, -1},
        {"negative ms", {{"retry-after-ms", "-100"}}, -1},
        {"ms past 400 days", {{"retry-after-ms", "34560000001"}}, -1},
        {"none", {{"content-type", "application/json"}}, -1},
    };
    for (const auto& c : cases) {
        INFO("name: ", std::string(c.name));
        CHECK(header_hints(c.headers).retry_after_ms == c.ms);
    }
}

TEST_CASE("hints: read_headers ignores headers that say nothing about limits") {
    const Headers headers = {
        {"content-type", "application/json"},
        {"x-request-id", "req_123"},
        {"openai-processing-ms", "2042"},
        {"x-ratelimit-limit-requests", "500"},
        {"x-ratelimit-limit-tokens", "30000"},
        {"x-ratelimit-remaining", "5"},
        {"x-ratelimit-remaining-images", "0"},
        {"x-ratelimit-reset-images", "1s"},
        {"anthropic-ratelimit-requests-limit", "50"},
        {"anthropic-ratelimit-images-remaining", "0"},
        {"anthropic-ratelimit-unified-representative-claim", "five_hour"},
        {"anthropic-ratelimit-unified-fallback-percentage", "0.5"},
        {"anthropic-ratelimit-unified-utilization", "0.5"},
        {"anthropic-ratelimit-unified-1d-status", "rejected"},
        {"anthropic-organization-id", "0b9b4f4e-0000-0000-0000-000000000000"},
        {"retry-after-seconds", "30"},
    };
    Hints h = header_hints(headers);
    CHECK_FALSE(h.any());
    CHECK(h.retry_after_ms == -1);
    for (const auto* w : {&h.requests, &h.tokens, &h.input_tokens, &h.output_tokens}) {
        CHECK(w->remaining == -1);
        CHECK(w->reset_unix_ms == -1);
    }
    CHECK(h.unified_status.empty());
    CHECK(h.unified_reset_unix_ms == -1);
    CHECK(h.unified_5h.status.empty());
    CHECK(h.unified_5h.utilization == -1);
    CHECK(h.unified_7d.status.empty());
}

TEST_CASE("hints: read_headers reads OpenAI windows, resets as durations from now") {
    const Headers headers = {
        {"x-ratelimit-limit-requests", "500"},
        {"x-ratelimit-limit-tokens", "30000"},
        {"x-ratelimit-remaining-requests", "499"},
        {"x-ratelimit-remaining-tokens", "0"},
        {"x-ratelimit-reset-requests", "120ms"},
        {"x-ratelimit-reset-tokens", "6m0s"},
    };
    Hints h = header_hints(headers);
    CHECK(h.any());
    CHECK(h.requests.remaining == 499);
    CHECK(h.requests.reset_unix_ms == kNow + 120);
    CHECK(h.tokens.remaining == 0);
    CHECK(h.tokens.reset_unix_ms == kNow + 360'000);
    CHECK(h.input_tokens.remaining == -1);
    CHECK(h.output_tokens.remaining == -1);
    CHECK(h.retry_after_ms == -1);

    // Values that do not parse leave the window unknown.
    Hints bad = header_hints({
        {"x-ratelimit-remaining-requests", "-1"},
        {"x-ratelimit-remaining-tokens", "lots"},
        {"x-ratelimit-reset-requests", "soon"},
        {"x-ratelimit-reset-tokens", "2026-01-01T00:00:30Z"},  // OpenAI resets are durations
    });
    CHECK(bad.requests.remaining == -1);
    CHECK(bad.tokens.remaining == -1);
    CHECK(bad.requests.reset_unix_ms == -1);
    CHECK(bad.tokens.reset_unix_ms == -1);

    Hints blanks = header_hints({{"x-ratelimit-remaining-tokens", " 12 "}, {"x-ratelimit-reset-tokens", " 1.5s "}});
    CHECK(blanks.tokens.remaining == 12);
    CHECK(blanks.tokens.reset_unix_ms == kNow + 1'500);
}

TEST_CASE("hints: read_headers reads Anthropic windows, resets in RFC 3339") {
    const Headers headers = {
        {"anthropic-ratelimit-requests-limit", "50"},
        {"anthropic-ratelimit-requests-remaining", "0"},
        {"anthropic-ratelimit-requests-reset", "2026-01-01T00:00:30Z"},
        {"anthropic-ratelimit-tokens-limit", "90000"},
        {"anthropic-ratelimit-tokens-remaining", "12000"},
        {"anthropic-ratelimit-tokens-reset", "2026-01-01T00:00:05.5Z"},
        {"anthropic-ratelimit-input-tokens-limit", "50000"},
        {"anthropic-ratelimit-input-tokens-remaining", "8000"},
        {"anthropic-ratelimit-input-tokens-reset", "2026-01-01T01:00:10+01:00"},
        {"anthropic-ratelimit-output-tokens-limit", "10000"},
        {"anthropic-ratelimit-output-tokens-remaining", "0"},
        {"anthropic-ratelimit-output-tokens-reset", "2026-01-01T00:01:00Z"},
        {"retry-after", "30"},
    };
    Hints h = header_hints(headers);
    CHECK(h.requests.remaining == 0);
    CHECK(h.requests.reset_unix_ms == kNow + 30'000);
    CHECK(h.tokens.remaining == 12'000);
    CHECK(h.tokens.reset_unix_ms == kNow + 5'500);
    CHECK(h.input_tokens.remaining == 8'000);
    CHECK(h.input_tokens.reset_unix_ms == kNow + 10'000);
    CHECK(h.output_tokens.remaining == 0);
    CHECK(h.output_tokens.reset_unix_ms == kNow + 60'000);
    CHECK(h.retry_after_ms == 30'000);

    // Anthropic resets are times, not durations.
    Hints bad = header_hints({{"anthropic-ratelimit-tokens-reset", "30s"}, {"anthropic-ratelimit-requests-reset", "x"}});
    CHECK(bad.tokens.reset_unix_ms == -1);
    CHECK(bad.requests.reset_unix_ms == -1);
}

TEST_CASE("hints: read_headers reads Anthropic's unified 5h and 7d windows") {
    const Headers headers = {
        {"anthropic-ratelimit-unified-status", "rejected"},
        {"anthropic-ratelimit-unified-reset", "1767236400"},  // +3h
        {"anthropic-ratelimit-unified-5h-status", "rejected"},
        {"anthropic-ratelimit-unified-5h-reset", "1767236400"},
        {"anthropic-ratelimit-unified-5h-utilization", "0.98"},
        {"anthropic-ratelimit-unified-7d-status", "allowed_warning"},
        {"anthropic-ratelimit-unified-7d-reset", "1767657600"},  // +5d
        {"anthropic-ratelimit-unified-7d-utilization", "0.41"},
        {"anthropic-ratelimit-unified-representative-claim", "five_hour"},
        {"anthropic-ratelimit-unified-fallback-percentage", "0.5"},
    };
    Hints h = header_hints(headers);
    CHECK(h.any());
    CHECK(h.unified_status == "rejected");
    CHECK(h.unified_reset_unix_ms == 1'767'236'400'000);
    CHECK(h.unified_5h.status == "rejected");
    CHECK(h.unified_5h.reset_unix_ms == 1'767'236'400'000);
    CHECK(h.unified_5h.utilization == doctest::Approx(0.98));
    CHECK(h.unified_7d.status == "allowed_warning");
    CHECK(h.unified_7d.reset_unix_ms == 1'767'657'600'000);
    CHECK(h.unified_7d.utilization == doctest::Approx(0.41));
    CHECK(h.retry_after_ms == -1);
    CHECK(h.requests.remaining == -1);

    // A reset may also come as RFC 3339; one that is neither, or a count of
    // ms taken for seconds (past 1e11), is not believed.
    Hints other = header_hints({
        {"anthropic-ratelimit-unified-reset", "2026-01-01T05:00:00Z"},
        {"anthropic-ratelimit-unified-5h-reset", "later"},
        {"anthropic-ratelimit-unified-7d-reset", "1767657600000"},
        {"anthropic-ratelimit-unified-5h-utilization", "0.5x"},
        {"anthropic-ratelimit-unified-7d-utilization", "150"},
        {"anthropic-ratelimit-unified-5h-status", " allowed "},
    });
    CHECK(other.unified_reset_unix_ms == 1'767'243'600'000);
    CHECK(other.unified_5h.reset_unix_ms == -1);
    CHECK(other.unified_7d.reset_unix_ms == -1);
    CHECK(other.unified_5h.utilization == -1);
    CHECK(other.unified_7d.utilization == -1);
    CHECK(other.unified_5h.status == "allowed");
    CHECK(other.unified_status.empty());

    // A status is cut like any text from a peer.
    Hints longs = header_hints({{"anthropic-ratelimit-unified-status", std::string(1000, 'r')}});
    CHECK(longs.unified_status.size() == kMaxHintText);
}

TEST_CASE("hints: read_error_body reads each wire's error object") {
    struct Case {
        const char* name;
        const char* body;
        const char* type;
        const char* code;
        const char* message_start;
        const char* quota_id;
        const char* quota_model;
        int64_t retry_after_ms;
    };
    const Case cases[] = {
        {"OpenAI 429 TPM", kOpenAiTpm429, "tokens", "rate_limit_exceeded",
         "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, "
         "Requested 2000. Please try again in 6.5s.",
         "", "", -1},
        {"OpenAI 429 insufficient_quota", kOpenAiQuota429, "insufficient_quota", "insufficient_quota",
         "You exceeded your current quota, please check your plan and billing details.", "", "", -1},
        {"Anthropic 429", kAnthropic429, "rate_limit_error", "",
         "This request would exceed the rate limit for your organization (org-x) of 50,000 input tokens per minute.",
         "", "", -1},
        {"Anthropic 529", kAnthropic529, "overloaded_error", "", "Overloaded", "", "", -1},
        {"Gemini 429 per model", kGeminiPerModel429, "RESOURCE_EXHAUSTED", "",
         "You exceeded your current quota, please check your plan and billing details.",
         "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "gemini-2.0-flash", 43'000},
        {"Gemini 429 per project", kGeminiProject429, "RESOURCE_EXHAUSTED", "",
         "Quota exceeded for quota metric 'Generate Content API requests per minute'",
         "GenerateContentRequestsPerMinutePerProjectPerRegion", "", 360'000},
        {"cloudcode 429", kCloudCode429, "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED",
         "You have exhausted your capacity on this model.", "", "gemini-2.5-pro", 540},
    };
    for (const auto& c : cases) {
        INFO("name: ", std::string(c.name));
        Hints h = body_hints(c.body);
        CHECK(h.any());
        CHECK(h.error_type == c.type);
        CHECK(h.error_code == c.code);
        CHECK(std::string_view(h.message).substr(0, std::strlen(c.message_start)) == c.message_start);
        CHECK(h.message.size() <= kMaxHintText);
        CHECK(h.quota_id == c.quota_id);
        CHECK(h.quota_model == c.quota_model);
        CHECK(h.retry_after_ms == c.retry_after_ms);
        // Nothing in a body is a window.
        CHECK(h.requests.remaining == -1);
        CHECK(h.tokens.reset_unix_ms == -1);
        CHECK(h.unified_status.empty());
    }
    // The OpenAI message is short enough to be kept whole.
    CHECK(body_hints(kOpenAiTpm429).message ==
          "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, "
          "Requested 2000. Please try again in 6.5s.");
    CHECK(body_hints(kAnthropic529).message == "Overloaded");
}

TEST_CASE("hints: read_error_body: the longest delay, the first value of each kind") {
    // A RetryInfo and a quotaResetDelay: the longest; with a header read
    // before, still the longest of all.
    const char* body = R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"slow down","details":[
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"43s"},
        {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED",
         "metadata":{"quotaResetDelay":"2m","model":"gemini-2.5-pro"}},
        {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[
            {"quotaId":"FirstPerModel","quotaDimensions":{"model":"first-model"}},
            {"quotaId":"SecondPerModel","quotaDimensions":{"model":"second-model"}}]}]}})";
    Hints h = body_hints(body);
    CHECK(h.retry_after_ms == 120'000);
    CHECK(h.quota_model == "gemini-2.5-pro");  // metadata.model came first
    CHECK(h.quota_id == "FirstPerModel");
    CHECK(h.error_code == "RATE_LIMIT_EXCEEDED");

    Hints with_header;
    read_headers({{"retry-after", "300"}}, kNow, with_header);
    read_error_body(body, with_header);
    CHECK(with_header.retry_after_ms == 300'000);

    Hints shorter_header;
    read_headers({{"retry-after", "10"}}, kNow, shorter_header);
    read_error_body(body, shorter_header);
    CHECK(shorter_header.retry_after_ms == 120'000);

    // A delay that does not parse is ignored, not taken as zero.
    CHECK(body_hints(R"({"error":{"details":[{"retryDelay":"soon"}]}})").retry_after_ms == -1);

    // error.code (OpenAI) comes before an ErrorInfo reason.
    Hints both = body_hints(R"({"error":{"type":"t","code":"first_code","details":[{"reason":"SECOND"}]}})");
    CHECK(both.error_code == "first_code");

    // Only error.type/status/code/message of the error object itself: not
    // the same names at the top level or deeper in it.
    Hints placed = body_hints(
        R"({"type":"error","message":"top","code":"top_code","error":{"details":[{"type":"deep","message":"deep",)"
        R"("code":"deep_code"}],"type":"real_type","message":"real message"}})");
    CHECK(placed.error_type == "real_type");
    CHECK(placed.message == "real message");
    CHECK(placed.error_code.empty());

    // Duplicate keys: the first value of each kind.
    Hints dup = body_hints(
        R"({"error":{"type":"first","status":"second","message":"one","message":"two","code":"c1","code":"c2"}})");
    CHECK(dup.error_type == "first");
    CHECK(dup.message == "one");
    CHECK(dup.error_code == "c1");

    // An ErrorInfo reason before error.code: the reason was first.
    CHECK(body_hints(R"({"error":{"details":[{"reason":"RATE_LIMIT_EXCEEDED"}],"code":"late"}})").error_code ==
          "RATE_LIMIT_EXCEEDED");

    // The same names under another top-level object are not the error's.
    Hints other = body_hints(
        R"({"response":{"type":"not_an_error","status":"FAILED","message":"m","code":"c",)"
        R"("details":[{"reason":"R"}]}})");
    CHECK(other.error_type.empty());
    CHECK(other.message.empty());
    CHECK(other.error_code.empty());

    // A model is a quota's only under quotaDimensions or metadata; a
    // reason only under the error object.
    Hints elsewhere = body_hints(
        R"({"model":"top-model","reason":"TOP","error":{"details":[{"request":{"model":"asked-model"}}]}})");
    CHECK(elsewhere.quota_model.empty());
    CHECK(elsewhere.error_code.empty());
}

TEST_CASE("hints: read_error_body on bodies that are not JSON or not whole") {
    struct Case {
        const char* name;
        const char* body;
    };
    const Case nothing[] = {
        {"empty", ""},
        {"plain text", "upstream connect error or disconnect/reset before headers. reset reason: overflow"},
        {"html", "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
                 "</center><hr><center>cloudflare</center></body></html>"},
        {"json string", R"("Internal Server Error")"},
        {"json array of numbers", "[1,2,3]"},
        {"cut in the first key", R"({"err)"},
        {"no error object", R"({"detail":"Not Found"})"},
    };
    for (const auto& c : nothing) {
        INFO("name: ", std::string(c.name));
        Hints h = body_hints(c.body);
        CHECK_FALSE(h.any());
        CHECK(h.error_type.empty());
        CHECK(h.error_code.empty());
        CHECK(h.message.empty());
    }

    // Cut in the middle of the message: the type read before it stays.
    Hints cut = body_hints(
        R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tok)");
    CHECK(cut.error_type == "rate_limit_error");
    CHECK(cut.message.empty());

    // Cut in Gemini's details: the delay before the cut stays, the quota
    // after it is unknown.
    Hints gemini = body_hints(
        R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"43s"},)"
        R"({"violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-Free)");
    CHECK(gemini.error_type == "RESOURCE_EXHAUSTED");
    CHECK(gemini.retry_after_ms == 43'000);
    CHECK(gemini.quota_id.empty());

    // Invalid JSON after good values: what was read stays.
    Hints broken = body_hints(R"({"error":{"type":"api_error","message":"boom",}})");
    CHECK(broken.error_type == "api_error");
    CHECK(broken.message == "boom");

    // Only the first value: what follows it is not read.
    Hints two = body_hints(R"({"error":{"type":"first"}} {"error":{"type":"second","message":"m"}})");
    CHECK(two.error_type == "first");
    CHECK(two.message.empty());
}

TEST_CASE("hints: read_error_body survives deep nesting and skips values past kMaxHintDepth") {
    // 10,000 levels, and as deep as a body read for hints can be (and
    // deeper, cut): no recursion (on a 256 KiB stack), nothing read.
    const size_t n = 10'000;
    std::string objects;
    for (size_t i = 0; i < n; ++i) objects += R"({"a":)";
    objects += "1";
    for (size_t i = 0; i < n; ++i) objects += "}";
    const std::string bodies[] = {
        std::string(n, '[') + std::string(n, ']'),
        std::string(n, '['),  // never closed
        objects,
        std::string(kMaxHintBody, '['),
        std::string(1024 * 1024, '['),
    };
    for (const auto& body : bodies) {
        CAPTURE(body.size());
        bool any = true;
        REQUIRE(on_small_stack([&] { any = body_hints(body).any(); }));
        CHECK_FALSE(any);
    }

    // A value whose object sits at depth kMaxHintDepth is read; one level
    // deeper it is skipped.
    auto nested = [](size_t arrays) {
        return std::string(arrays, '[') + R"({"retryDelay":"5s","quotaId":"Q"})" + std::string(arrays, ']');
    };
    Hints at = body_hints(nested(kMaxHintDepth - 1));
    CHECK(at.retry_after_ms == 5'000);
    CHECK(at.quota_id == "Q");
    Hints past = body_hints(nested(kMaxHintDepth));
    CHECK(past.retry_after_ms == -1);
    CHECK(past.quota_id.empty());

    // After a deep excursion inside the error object, its later fields are
    // still read in their place.
    std::string deep = R"({"error":{"details":)" + std::string(n, '[') + std::string(n, ']') +
                       R"(,"type":"rate_limit_error","message":"after the deep part"}})";
    REQUIRE(deep.size() < kMaxHintBody);
    Hints after = body_hints(deep);
    CHECK(after.error_type == "rate_limit_error");
    CHECK(after.message == "after the deep part");

    // Deep keys named like the error's own do not leak into it: a "type"
    // 40 levels down, then back at the error object's level.
    std::string keyed = R"({"error":{"x":)";
    for (int i = 0; i < 40; ++i) keyed += R"({"type":)";
    keyed += R"("deep")";
    for (int i = 0; i < 40; ++i) keyed += "}";
    keyed += R"(,"message":"shallow"}})";
    Hints k = body_hints(keyed);
    CHECK(k.error_type.empty());
    CHECK(k.message == "shallow");
}

TEST_CASE("hints: read_error_body reads only the first kMaxHintBody bytes") {
    // A 1 MiB body: the delay before the cut is read, the longer one after
    // it is not.
    std::string big = R"({"error":{"type":"rate_limit_error","details":[{"retryDelay":"1s"},)";
    while (big.size() < 1024 * 1024) big += R"({"@type":"type.googleapis.com/google.rpc.Help"},)";
    big += R"({"retryDelay":"9s"}],"message":"late"}})";
    Hints h = body_hints(big);
    CHECK(h.error_type == "rate_limit_error");
    CHECK(h.retry_after_ms == 1'000);
    CHECK(h.message.empty());

    // The same body, small: both delays and the message are read (so the
    // cut above is what hid them).
    std::string small = R"({"error":{"type":"rate_limit_error","details":[{"retryDelay":"1s"},)"
                        R"({"retryDelay":"9s"}],"message":"late"}})";
    Hints s = body_hints(small);
    CHECK(s.retry_after_ms == 9'000);
    CHECK(s.message == "late");

    // The exact edge: a string that closes on the last byte read is read;
    // one byte later it is not.
    auto edged = [](size_t pad) {
        std::string b = R"({"error":{"type":"t","pad":")" + std::string(pad, 'p') + R"(","code":"edge")";
        return b;
    };
    const size_t base = edged(0).size();
    REQUIRE(base < kMaxHintBody);
    std::string fits = edged(kMaxHintBody - base);
    REQUIRE(fits.size() == kMaxHintBody);
    CHECK(body_hints(fits + "}}" + std::string(1000, ' ')).error_code == "edge");
    std::string over = edged(kMaxHintBody - base + 1);
    CHECK(body_hints(over + "}}").error_code.empty());
    CHECK(body_hints(over + "}}").error_type == "t");
}

TEST_CASE("hints: text from a body is cut to kMaxHintText") {
    const std::string huge(10'000, 'm');
    std::string body = R"({"error":{"type":")" + huge + R"(","code":")" + huge + R"(","message":")" + huge +
                       R"(","details":[{"violations":[{"quotaId":")" + huge +
                       R"(","quotaDimensions":{"model":")" + huge + R"("}}]}]}})";
    Hints h = body_hints(body);
    CHECK(h.error_type == huge.substr(0, kMaxHintText));
    CHECK(h.error_code == huge.substr(0, kMaxHintText));
    CHECK(h.message == huge.substr(0, kMaxHintText));
    CHECK(h.quota_id == huge.substr(0, kMaxHintText));
    CHECK(h.quota_model == huge.substr(0, kMaxHintText));

    // A message just at the limit is kept whole; escapes are decoded.
    const std::string exact(kMaxHintText, 'e');
    CHECK(body_hints(R"({"error":{"message":")" + exact + R"("}})").message == exact);
    CHECK(body_hints(R"({"error":{"message":"a \"quoted\" \u00e9"}})").message == "a \"quoted\" \xC3\xA9");
}

TEST_CASE("hints: fractions are exact, impossible dates are refused, a Gemini stream's error array is read") {
    using namespace agd::credentials;
    CHECK(parse_duration_ms("0.3s") == 300);
    CHECK(parse_duration_ms("1.15s") == 1150);
    CHECK(parse_duration_ms("0.009s") == 9);
    CHECK(parse_duration_ms("0.7") == 700);
    CHECK(parse_duration_ms("0.0001s") == 1);  // rounded up
    CHECK(parse_retry_after_ms("0.3", 0) == 300);
    CHECK(parse_rfc3339_ms("2026-01-01T00:00:00.035Z") == 1'767'225'600'035);
    CHECK(parse_rfc3339_ms("2026-02-30T00:00:00Z") == -1);
    CHECK(parse_rfc3339_ms("2026-02-29T00:00:00Z") == -1);  // not a leap year
    CHECK(parse_rfc3339_ms("2028-02-29T00:00:00Z") > 0);
    CHECK(parse_rfc3339_ms("2026-04-31T00:00:00Z") == -1);
    Hints h;
    read_error_body(R"([{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED",)"
                    R"("details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}])",
                    h);
    CHECK(h.error_type == "RESOURCE_EXHAUSTED");
    CHECK(h.message == "Resource exhausted");
    CHECK(h.retry_after_ms == 12000);
    Hints u;
    read_headers({{"anthropic-ratelimit-unified-5h-utilization", "45"}}, 0, u);
    CHECK(u.unified_5h.utilization == doctest::Approx(0.45));
}
