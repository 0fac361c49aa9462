// Classifying an upstream's answer by scope (credentials/verdict.h).
#include "credentials/verdict.h"

#include <algorithm>
#include <cctype>

#include <fmt/core.h>

namespace agd::credentials {

namespace {

constexpr int64_t kUntilPaid = 30LL * 86'400'000;  // past any max_cooldown: capped, then probed

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

std::string why_of(int status, const Hints& h) {
    std::string out = std::to_string(status);
    if (!h.error_type.empty()) out += " " + h.error_type;
    if (!h.error_code.empty() && h.error_code != h.error_type) out += " (" + h.error_code + ")";
    if (!h.message.empty()) out += ": " + h.message;
    if (out.size() > kMaxHintText + 40) out.resize(kMaxHintText + 40);
    return out;
}

// The wait a window with nothing left implies.
int64_t exhausted_wait(const Window& w, int64_t now) {
    if (w.remaining != 0 || w.reset_unix_ms < 0) return -1;
    return std::max<int64_t>(w.reset_unix_ms - now, 0);
}

int64_t unified_wait(const Hints& h, int64_t now) {
    int64_t wait = -1;
    auto take = [&](const std::string& status, int64_t reset) {
        if (status == "rejected" && reset >= 0) wait = std::max(wait, std::max<int64_t>(reset - now, 0));
    };
    take(h.unified_5h.status, h.unified_5h.reset_unix_ms);
    take(h.unified_7d.status, h.unified_7d.reset_unix_ms);
    if (wait < 0 && h.unified_status == "rejected" && h.unified_reset_unix_ms >= 0)
        wait = std::max<int64_t>(h.unified_reset_unix_ms - now, 0);
    return wait;
}

// A 429 for the whole key rather than one model's quota.
bool key_wide(const Hints& h) {
    if (h.error_type == "insufficient_quota" || h.error_code == "insufficient_quota") return true;  // OpenAI billing
    if (h.unified_status == "rejected" || h.unified_5h.status == "rejected" || h.unified_7d.status == "rejected")
        return true;  // an Anthropic subscription's 5-hour or weekly window
    // A Gemini quota that is counted per project, not per model.
    if (!h.quota_id.empty() && !contains(h.quota_id, "PerModel") && h.quota_model.empty()) return true;
    return false;
}

// "... try again in 1m30.2s. ..." -> 90200; -1 when the message says no such thing.
int64_t wait_in_message(std::string_view message) {
    constexpr std::string_view kPhrase = "try again in ";
    auto at = message.find(kPhrase);
    if (at == std::string_view::npos) return -1;
    std::string_view rest = message.substr(at + kPhrase.size());
    size_t n = 0;
    while (n < rest.size() && n < 32 && (std::isdigit(static_cast<unsigned char>(rest[n])) || rest[n] == '.' ||
                                         rest[n] == 'h' || rest[n] == 'm' || rest[n] == 's'))
        ++n;
    std::string_view token = rest.substr(0, n);
    while (!token.empty() && token.back() == '.') token.remove_suffix(1);  // the sentence's full stop
    return parse_duration_ms(token);
}

// An answer that says the key itself is refused, whatever its status (Gemini
// reports an invalid key as a 400 with reason API_KEY_INVALID).
bool key_refused(const Hints& h) {
    static constexpr std::string_view kReasons[] = {"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "SERVICE_DISABLED",
                                                    "CONSUMER_SUSPENDED", "invalid_api_key"};
    for (auto r : kReasons)
        if (h.error_code == r) return true;
    return h.error_type == "authentication_error";
}

// Out of credit: OpenAI and Anthropic billing errors.
bool billing(const Hints& h) {
    return h.error_type == "billing_error" || h.error_code == "billing_hard_limit_reached" ||
           contains(h.message, "credit balance is too low");
}

}  // namespace

const char* scope_name(Scope s) {
    switch (s) {
        case Scope::None: return "none";
        case Scope::Request: return "request";
        case Scope::Model: return "model";
        case Scope::Credential: return "credential";
        case Scope::Transport: return "transport";
    }
    return "none";
}

Verdict classify(int status, const Hints& h, int64_t now) {
    Verdict v;
    if (status >= 200 && status < 400) return v;
    v.why = why_of(status, h);
    if (status == 401 || key_refused(h)) {
        // The key itself: out until a reload or an admin enables it.
        v.scope = Scope::Credential;
        v.disable = true;
        return v;
    }
    if (status == 402 || billing(h)) {
        // Out of credit: it comes back when someone pays, so the longest
        // rest, tested every probe_interval.
        v.scope = Scope::Credential;
        v.wait_ms = kUntilPaid;
        return v;
    }
    if (status == 403) {
        // This key may not use this (a model it was not granted, another
        // project's file): another key may; the key serves the rest.
        v.scope = Scope::Model;
        return v;
    }
    if (status == 429) {
        int64_t windows = std::max({exhausted_wait(h.requests, now), exhausted_wait(h.tokens, now),
                                    exhausted_wait(h.input_tokens, now), exhausted_wait(h.output_tokens, now)});
        if (key_wide(h)) {
            v.scope = Scope::Credential;
            v.wait_ms = std::max(h.retry_after_ms, unified_wait(h, now));
            if (v.wait_ms < 0) v.wait_ms = windows;
        } else {
            v.scope = Scope::Model;
            v.model = h.quota_model;
            v.wait_ms = h.retry_after_ms >= 0 ? h.retry_after_ms : windows;
        }
        // OpenAI's token-rate 429 often has no header for it, only "Please
        // try again in 6.5s." in its message.
        if (v.wait_ms < 0) v.wait_ms = wait_in_message(h.message);
        return v;
    }
    if (status == 408 || status >= 500) {
        v.scope = Scope::Transport;
        return v;
    }
    v.scope = Scope::Request;
    return v;
}

Verdict transport_failure(std::string_view what) {
    Verdict v;
    v.scope = Scope::Transport;
    v.why = std::string(what.substr(0, kMaxHintText));
    return v;
}

}  // namespace agd::credentials
