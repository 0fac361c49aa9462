#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "credentials/hints.h"
#include "credentials/verdict.h"

using agd::credentials::classify;
using agd::credentials::Headers;
using agd::credentials::Hints;
using agd::credentials::kMaxHintText;
using agd::credentials::read_error_body;
using agd::credentials::read_headers;
using agd::credentials::Scope;
using agd::credentials::scope_name;
using agd::credentials::transport_failure;
using agd::credentials::Verdict;

namespace {

// 2026-01-01T00:00:00Z: every test's wall clock.
constexpr int64_t kNow = 1'767'225'600'000;

// An answer as the exchange sees it: headers read first, then the body.
Hints answer(const Headers& headers, std::string_view body) {
    Hints h;
    read_headers(headers, kNow, h);
    read_error_body(body, h);
    return h;
}

bool has(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

const char* const kOpenAiTpm429 =
    R"({"error":{"message":"Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): )"
    R"(Limit 30000, Used 29000, Requested 2000. Please try again in 6.5s.","type":"tokens","param":null,)"
    R"("code":"rate_limit_exceeded"}})";

const char* const kOpenAiRpm429 =
    R"({"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): )"
    R"(Limit 3, Used 3, Requested 1. Please try again in 20s.","type":"requests","param":null,)"
    R"("code":"rate_limit_exceeded"}})";

const char* const kOpenAiQuota429 =
    R"({"error":{"message":"You exceeded your current quota, please check your plan and billing details. )"
    R"(For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",)"
    R"("type":"insufficient_quota","param":null,"code":"insufficient_quota"}})";

const char* const kOpenAiBadKey401 =
    R"({"error":{"message":"Incorrect API key provided: sk-proj-********************abcd. You can find your API key )"
    R"(at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,)"
    R"("code":"invalid_api_key"}})";

const char* const kOpenAiModel404 =
    R"({"error":{"message":"The model `gpt-5-turbo` does not exist or you do not have access to it.",)"
    R"("type":"invalid_request_error","param":null,"code":"model_not_found"}})";

const char* const kAnthropic429 =
    R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit )"
    R"(for your organization (org-x) of 50,000 input tokens per minute."},"request_id":"req_011CUa3kXw5h"})";

const char* const kAnthropicSubscription429 =
    R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's )"
    R"(rate limit. Please try again later."},"request_id":"req_011CUa4pQ"})";

const char* const kAnthropic529 =
    R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CUa3mN"})";

const char* const kAnthropic500 =
    R"({"type":"error","error":{"type":"api_error","message":"Internal server error"},"request_id":"req_011CUa5"})";

const char* const kAnthropic400 =
    R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > )"
    R"(200000 maximum"},"request_id":"req_011CUa6"})";

const char* const kAnthropic413 =
    R"({"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed )"
    R"(number of bytes."}})";

const char* const kAnthropic403 =
    R"({"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to )"
    R"(use the specified resource."}})";

const char* const kGeminiPerModel429 = R"({
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
            "quotaValue": "15"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [{"description": "Learn more about Gemini API quotas",
                   "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]
      },
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "43s"}
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
            "quotaDimensions": {"location": "us-central1"},
            "quotaValue": "300"
          }
        ]
      },
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "6m0s"}
    ]
  }
})";

// A per-model quota id whose violation names no model.
const char* const kGeminiPerModelNoDimension429 = R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED",
  "message":"Resource has been exhausted (e.g. check quota).",
  "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure",
              "violations":[{"quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier"}]}]}})";

// A quota that names its model although its id does not say PerModel.
const char* const kGeminiBaseModel429 = R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED",
  "message":"Quota exceeded for aiplatform.googleapis.com/generate_content_input_tokens_per_minute_per_base_model with base model: gemini-2.5-flash.",
  "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure",
              "violations":[{"quotaMetric":"aiplatform.googleapis.com/generate_content_input_tokens_per_minute_per_base_model",
                             "quotaId":"GenerateContentInputTokensPerMinutePerProjectPerBaseModel",
                             "quotaDimensions":{"location":"us-central1","model":"gemini-2.5-flash"}}]},
             {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20.3s"}]}})";

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

const char* const kGemini403 =
    R"({"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established )"
    R"(identity). Please use API Key or other form of API consumer identity to call this API.",)"
    R"("status":"PERMISSION_DENIED"}})";

const char* const kGemini503 =
    R"({"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}})";

}  // namespace

TEST_CASE("verdict: scope names") {
    CHECK(std::string(scope_name(Scope::None)) == "none");
    CHECK(std::string(scope_name(Scope::Request)) == "request");
    CHECK(std::string(scope_name(Scope::Model)) == "model");
    CHECK(std::string(scope_name(Scope::Credential)) == "credential");
    CHECK(std::string(scope_name(Scope::Transport)) == "transport");
}

TEST_CASE("verdict: 2xx and 3xx say nothing, whatever the hints") {
    // A success that also reports a spent window and a rejected unified
    // window: still no verdict (the ledger reads the windows elsewhere).
    Hints h = answer({{"x-ratelimit-remaining-tokens", "0"},
                      {"x-ratelimit-reset-tokens", "6m0s"},
                      {"anthropic-ratelimit-unified-status", "rejected"},
                      {"retry-after", "30"}},
                     "");
    for (int status : {200, 201, 204, 206, 301, 302, 304, 307, 399}) {
        CAPTURE(status);
        Verdict v = classify(status, h, kNow);
        CHECK(v.scope == Scope::None);
        CHECK_FALSE(v.disable);
        CHECK(v.wait_ms == -1);
        CHECK(v.why.empty());
        CHECK(v.model.empty());
    }
}

TEST_CASE("verdict: the request's own fault cools nothing") {
    struct Case {
        int status;
        const char* body;
        const char* why;
    };
    const Case cases[] = {
        {400, kAnthropic400, "400 invalid_request_error: prompt is too long: 215000 tokens > 200000 maximum"},
        {404, kOpenAiModel404,
         "404 invalid_request_error (model_not_found): The model `gpt-5-turbo` does not exist or you do not have "
         "access to it."},
        {413, kAnthropic413, "413 request_too_large: Request exceeds the maximum allowed number of bytes."},
        {422, R"({"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]})",
         "422"},
        {409, "", "409"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.status);
        // A retry-after on a request error does not make it a quota.
        Verdict v = classify(c.status, answer({{"retry-after", "5"}}, c.body), kNow);
        CHECK(v.scope == Scope::Request);
        CHECK_FALSE(v.disable);
        CHECK(v.wait_ms == -1);
        CHECK(v.model.empty());
        CHECK(v.why == c.why);
    }
}

TEST_CASE("verdict: a 401, or an answer whose reason is the key, takes the credential out") {
    struct Case {
        int status;
        const char* body;
        const char* why_start;
    };
    const Case cases[] = {
        {401, kOpenAiBadKey401, "401 invalid_request_error (invalid_api_key): Incorrect API key provided"},
        {401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})",
         "401 authentication_error: invalid x-api-key"},
        {401, "", "401"},
        // Gemini says an invalid key with a 400 and its reason.
        {400, R"({"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":)"
              R"("INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",)"
              R"("reason":"API_KEY_INVALID","domain":"googleapis.com"}]}})",
         "400 INVALID_ARGUMENT (API_KEY_INVALID): API key not valid"},
        {403, R"({"error":{"code":403,"message":"Requests to this API are blocked.","status":"PERMISSION_DENIED",)"
              R"("details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_SERVICE_BLOCKED"}]}})",
         "403 PERMISSION_DENIED (API_KEY_SERVICE_BLOCKED)"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.status);
        INFO("why_start: ", std::string(c.why_start));
        Verdict v = classify(c.status, answer({{"retry-after", "60"}}, c.body), kNow);
        CHECK(v.scope == Scope::Credential);
        CHECK(v.disable);
        CHECK(v.wait_ms == -1);
        CHECK(v.why.rfind(c.why_start, 0) == 0);
    }
}

TEST_CASE("verdict: a 403 without the key's reason rests the key for that model only") {
    for (const char* body : {kAnthropic403, kGemini403}) {
        Verdict v = classify(403, answer({}, body), kNow);
        CHECK(v.scope == Scope::Model);
        CHECK_FALSE(v.disable);
    }
}

TEST_CASE("verdict: out of credit rests the whole key as long as allowed") {
    const char* anthropic_credit =
        R"({"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to )"
        R"(access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}})";
    for (auto [status, body] : {std::pair<int, const char*>{400, anthropic_credit},
                                {402, R"({"error":{"message":"Payment required","type":"billing_error"}})"}}) {
        Verdict v = classify(status, answer({}, body), kNow);
        CHECK(v.scope == Scope::Credential);
        CHECK_FALSE(v.disable);
        CHECK(v.wait_ms > 86'400'000);  // past any max_cooldown: capped, then probed
    }
}

TEST_CASE("verdict: a 429 for one model's quota cools that model") {
    struct Case {
        const char* name;
        Headers headers;
        const char* body;
        int64_t wait_ms;
        const char* model;
        const char* why_start;
    };
    const Case cases[] = {
        {"OpenAI TPM, retry-after-ms",
         {{"x-ratelimit-remaining-tokens", "1000"}, {"x-ratelimit-reset-tokens", "6.5s"}, {"retry-after-ms", "6500"}},
         kOpenAiTpm429, 6'500, "", "429 tokens (rate_limit_exceeded): Rate limit reached for gpt-4o"},
        {"OpenAI RPM, no retry-after: the spent window's reset",
         {{"x-ratelimit-limit-requests", "3"},
          {"x-ratelimit-remaining-requests", "0"},
          {"x-ratelimit-reset-requests", "20s"},
          {"x-ratelimit-remaining-tokens", "39000"},
          {"x-ratelimit-reset-tokens", "1m30s"}},
         kOpenAiRpm429, 20'000, "", "429 requests (rate_limit_exceeded): Rate limit reached for gpt-4o-mini"},
        {"Anthropic, retry-after wins over windows",
         {{"retry-after", "14"},
          {"anthropic-ratelimit-input-tokens-remaining", "0"},
          {"anthropic-ratelimit-input-tokens-reset", "2026-01-01T00:01:00Z"},
          {"anthropic-ratelimit-requests-remaining", "49"},
          {"anthropic-ratelimit-requests-reset", "2026-01-01T00:00:01Z"}},
         kAnthropic429, 14'000, "", "429 rate_limit_error: This request would exceed the rate limit"},
        {"Anthropic, no retry-after: the longest spent window",
         {{"anthropic-ratelimit-tokens-remaining", "0"},
          {"anthropic-ratelimit-tokens-reset", "2026-01-01T00:00:30Z"},
          {"anthropic-ratelimit-output-tokens-remaining", "0"},
          {"anthropic-ratelimit-output-tokens-reset", "2026-01-01T00:01:00Z"},
          {"anthropic-ratelimit-requests-remaining", "1"},
          {"anthropic-ratelimit-requests-reset", "2026-01-01T00:10:00Z"}},
         kAnthropic429, 60'000, "", "429 rate_limit_error: "},
        {"Anthropic, only the input tokens spent",
         {{"anthropic-ratelimit-input-tokens-remaining", "0"},
          {"anthropic-ratelimit-input-tokens-reset", "2026-01-01T00:00:45Z"},
          {"anthropic-ratelimit-output-tokens-remaining", "8000"},
          {"anthropic-ratelimit-output-tokens-reset", "2026-01-01T00:00:02Z"}},
         kAnthropic429, 45'000, "", "429 rate_limit_error: "},
        {"Anthropic, a spent window already reset",
         {{"anthropic-ratelimit-requests-remaining", "0"},
          {"anthropic-ratelimit-requests-reset", "2025-12-31T23:59:00Z"}},
         kAnthropic429, 0, "", "429 rate_limit_error: "},
        {"Anthropic, a spent window with no reset", {{"anthropic-ratelimit-requests-remaining", "0"}}, kAnthropic429,
         -1, "", "429 rate_limit_error: "},
        {"Anthropic, unified window allowed: still per model",
         {{"anthropic-ratelimit-unified-status", "allowed_warning"},
          {"anthropic-ratelimit-unified-5h-status", "allowed"},
          {"anthropic-ratelimit-unified-5h-reset", "1767236400"},
          {"retry-after", "7"}},
         kAnthropic429, 7'000, "", "429 rate_limit_error: "},
        {"Gemini per model", {}, kGeminiPerModel429, 43'000, "gemini-2.0-flash",
         "429 RESOURCE_EXHAUSTED: You exceeded your current quota"},
        {"Gemini per-model quota id without a model dimension", {}, kGeminiPerModelNoDimension429, -1, "",
         "429 RESOURCE_EXHAUSTED: Resource has been exhausted"},
        {"Gemini quota naming a model, id without PerModel", {}, kGeminiBaseModel429, 20'300, "gemini-2.5-flash",
         "429 RESOURCE_EXHAUSTED: Quota exceeded for aiplatform.googleapis.com"},
        {"cloudcode ErrorInfo", {}, kCloudCode429, 540, "gemini-2.5-pro",
         "429 RESOURCE_EXHAUSTED (RATE_LIMIT_EXCEEDED): You have exhausted your capacity on this model."},
        {"nothing said", {}, "", -1, "", "429"},
    };
    for (const auto& c : cases) {
        INFO("name: ", std::string(c.name));
        Verdict v = classify(429, answer(c.headers, c.body), kNow);
        CHECK(v.scope == Scope::Model);
        CHECK_FALSE(v.disable);
        CHECK(v.wait_ms == c.wait_ms);
        CHECK(v.model == c.model);
        CHECK(v.why.rfind(c.why_start, 0) == 0);
    }
}

TEST_CASE("verdict: a key-wide 429 cools the whole credential") {
    struct Case {
        const char* name;
        Headers headers;
        const char* body;
        int64_t wait_ms;
        const char* why_start;
    };
    const Case cases[] = {
        {"OpenAI insufficient_quota, nothing to wait for", {}, kOpenAiQuota429, -1,
         "429 insufficient_quota: You exceeded your current quota"},
        {"OpenAI insufficient_quota with a spent window",
         {{"x-ratelimit-remaining-tokens", "0"}, {"x-ratelimit-reset-tokens", "6m0s"}}, kOpenAiQuota429, 360'000,
         "429 insufficient_quota: "},
        {"Anthropic subscription, 5h window rejected",
         {{"anthropic-ratelimit-unified-status", "rejected"},
          {"anthropic-ratelimit-unified-reset", "1767236400"},
          {"anthropic-ratelimit-unified-5h-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-reset", "1767236400"},
          {"anthropic-ratelimit-unified-5h-utilization", "1.0"},
          {"anthropic-ratelimit-unified-7d-status", "allowed"},
          {"anthropic-ratelimit-unified-7d-reset", "1767657600"},
          {"anthropic-ratelimit-unified-7d-utilization", "0.41"},
          {"anthropic-ratelimit-unified-representative-claim", "five_hour"}},
         kAnthropicSubscription429, 3 * 3'600'000LL,
         "429 rate_limit_error: This request would exceed your account's rate limit."},
        {"Anthropic subscription, both windows rejected: the later reset",
         {{"anthropic-ratelimit-unified-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-reset", "1767236400"},
          {"anthropic-ratelimit-unified-7d-status", "rejected"},
          {"anthropic-ratelimit-unified-7d-reset", "1767657600"}},
         kAnthropicSubscription429, 5 * 86'400'000LL, "429 rate_limit_error: "},
        {"Anthropic subscription, both rejected, the 5h window resets later",
         {{"anthropic-ratelimit-unified-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-reset", "1767236400"},
          {"anthropic-ratelimit-unified-7d-status", "rejected"},
          {"anthropic-ratelimit-unified-7d-reset", "1767229200"}},
         kAnthropicSubscription429, 3 * 3'600'000LL, "429 rate_limit_error: "},
        {"Anthropic subscription, 7d alone rejected (overall status not sent)",
         {{"anthropic-ratelimit-unified-5h-status", "allowed"},
          {"anthropic-ratelimit-unified-5h-reset", "1767236400"},
          {"anthropic-ratelimit-unified-7d-status", "rejected"},
          {"anthropic-ratelimit-unified-7d-reset", "1767657600"}},
         kAnthropicSubscription429, 5 * 86'400'000LL, "429 rate_limit_error: "},
        {"Anthropic subscription, only the overall status and reset",
         {{"anthropic-ratelimit-unified-status", "rejected"},
          {"anthropic-ratelimit-unified-reset", "2026-01-01T05:00:00Z"}},
         kAnthropicSubscription429, 5 * 3'600'000LL, "429 rate_limit_error: "},
        {"Anthropic subscription, a longer retry-after wins",
         {{"retry-after", "36000"},
          {"anthropic-ratelimit-unified-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-reset", "1767236400"}},
         kAnthropicSubscription429, 36'000'000, "429 rate_limit_error: "},
        {"Anthropic subscription, a shorter retry-after loses",
         {{"retry-after", "60"},
          {"anthropic-ratelimit-unified-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-reset", "1767236400"}},
         kAnthropicSubscription429, 3 * 3'600'000LL, "429 rate_limit_error: "},
        {"Anthropic subscription, rejected window already reset",
         {{"anthropic-ratelimit-unified-5h-status", "rejected"},
          {"anthropic-ratelimit-unified-5h-reset", "1767225000"}},
         kAnthropicSubscription429, 0, "429 rate_limit_error: "},
        {"Anthropic subscription, rejected without any reset",
         {{"anthropic-ratelimit-unified-status", "rejected"}}, kAnthropicSubscription429, -1,
         "429 rate_limit_error: "},
        {"Gemini quota per project, no model", {}, kGeminiProject429, 360'000,
         "429 RESOURCE_EXHAUSTED: Quota exceeded for quota metric"},
    };
    for (const auto& c : cases) {
        INFO("name: ", std::string(c.name));
        Verdict v = classify(429, answer(c.headers, c.body), kNow);
        CHECK(v.scope == Scope::Credential);
        CHECK_FALSE(v.disable);
        CHECK(v.wait_ms == c.wait_ms);
        CHECK(v.why.rfind(c.why_start, 0) == 0);
    }
}

TEST_CASE("verdict: timeouts, 5xx and 529 are the transport's") {
    struct Case {
        int status;
        const char* body;
        const char* why;
    };
    const Case cases[] = {
        {408, "", "408"},
        {500, kAnthropic500, "500 api_error: Internal server error"},
        {502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "502"},
        {503, kGemini503, "503 UNAVAILABLE: The model is overloaded. Please try again later."},
        {504, "upstream request timeout", "504"},
        {529, kAnthropic529, "529 overloaded_error: Overloaded"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.status);
        // Even with a retry-after: the breaker decides, not this answer.
        Verdict v = classify(c.status, answer({{"retry-after", "30"}}, c.body), kNow);
        CHECK(v.scope == Scope::Transport);
        CHECK_FALSE(v.disable);
        CHECK(v.wait_ms == -1);
        CHECK(v.model.empty());
        CHECK(v.why == c.why);
    }
}

TEST_CASE("verdict: why names the status, type, code and message, cut") {
    Verdict openai = classify(429, answer({}, kOpenAiTpm429), kNow);
    CHECK(openai.why ==
          "429 tokens (rate_limit_exceeded): Rate limit reached for gpt-4o in organization org-x on tokens per min "
          "(TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 6.5s.");

    // A code equal to the type is not repeated.
    Verdict quota = classify(429, answer({}, kOpenAiQuota429), kNow);
    CHECK(has(quota.why, "429 insufficient_quota: "));
    CHECK_FALSE(has(quota.why, "(insufficient_quota)"));

    // A code alone, a message alone.
    Hints code_only;
    code_only.error_code = "rate_limit_exceeded";
    CHECK(classify(429, code_only, kNow).why == "429 (rate_limit_exceeded)");
    Hints message_only;
    message_only.message = "slow down";
    CHECK(classify(503, message_only, kNow).why == "503: slow down");

    // Each part at its longest: the line stays bounded.
    const std::string huge(10'000, 'x');
    std::string body = R"({"error":{"type":")" + huge + R"(","code":"c)" + huge + R"(","message":")" + huge + R"("}})";
    Verdict v = classify(400, answer({}, body), kNow);
    CHECK(v.why.size() == kMaxHintText + 40);
    CHECK(v.why.rfind("400 " + huge.substr(0, kMaxHintText) + " (c", 0) == 0);
}

TEST_CASE("verdict: transport failures") {
    Verdict v = transport_failure("connect: connection refused");
    CHECK(v.scope == Scope::Transport);
    CHECK_FALSE(v.disable);
    CHECK(v.wait_ms == -1);
    CHECK(v.why == "connect: connection refused");

    Verdict cut = transport_failure(std::string(5'000, 't'));
    CHECK(cut.why == std::string(kMaxHintText, 't'));
}

TEST_CASE("verdict: an OpenAI token-rate 429 without a header takes its wait from the message") {
    using namespace agd::credentials;
    Hints h;
    read_error_body(R"({"error":{"message":"Rate limit reached for gpt-4o in organization org-x on tokens per min )"
                    R"((TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 1m6.5s. Visit )"
                    R"(https://platform.openai.com/account/rate-limits to learn more.","type":"tokens",)"
                    R"("param":null,"code":"rate_limit_exceeded"}})",
                    h);
    Verdict v = classify(429, h, 0);
    CHECK(v.scope == Scope::Model);
    CHECK(v.wait_ms == 66500);
    Hints none;
    read_error_body(R"({"error":{"message":"Rate limit reached.","type":"requests"}})", none);
    CHECK(classify(429, none, 0).wait_ms == -1);
}
