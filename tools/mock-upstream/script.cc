#include "script.h"

#include <charconv>
#include <cmath>
#include <utility>

namespace mock {
namespace {

std::optional<int64_t> parse_int(std::string_view text, int64_t lo, int64_t hi) {
    int64_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < lo || value > hi) {
        return std::nullopt;
    }
    return value;
}

std::optional<bool> parse_bool(std::string_view text) {
    if (text.empty() || text == "1" || text == "true" || text == "yes" || text == "on") {
        return true;
    }
    if (text == "0" || text == "false" || text == "no" || text == "off") {
        return false;
    }
    return std::nullopt;
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t bar = text.find('|', start);
        if (bar == std::string_view::npos) {
            bar = text.size();
        }
        out.emplace_back(text.substr(start, bar - start));
        start = bar + 1;
    }
    return out;
}

std::optional<Hint> parse_hint(std::string_view text) {
    static constexpr std::pair<std::string_view, Hint> kNames[] = {
        {"retry-after", Hint::retry_after},   {"retry-after-date", Hint::retry_after_date},
        {"retry-after-ms", Hint::retry_after_ms}, {"openai", Hint::openai},
        {"anthropic", Hint::anthropic},       {"anthropic-unified", Hint::anthropic_unified},
        {"gemini", Hint::gemini},             {"none", Hint::none},
    };
    for (const auto& [name, hint] : kNames) {
        if (text == name) return hint;
    }
    return std::nullopt;
}

void apply(Script& s, std::string_view key, std::string_view value) {
    if (key == "chunks") {
        if (auto v = parse_int(value, 1, kMaxChunks)) s.chunks = static_cast<int>(*v);
    } else if (key == "pace") {
        if (auto v = parse_duration(value)) s.pace_ns = *v;
    } else if (key == "delay") {
        if (auto v = parse_duration(value)) s.delay_ns = *v;
    } else if (key == "hold") {
        if (auto v = parse_duration(value)) s.hold_ns = *v;
    } else if (key == "first_hold") {
        if (auto v = parse_duration(value)) s.first_hold_ns = *v;
    } else if (key == "status") {
        if (auto v = parse_int(value, 400, 599)) s.status = static_cast<int>(*v);
    } else if (key == "retry_after") {
        if (parse_int(value, 0, int64_t{1} << 40)) s.retry_after = std::string(value);
    } else if (key == "fail_cred") {
        s.fail_cred = split_list(value);
    } else if (key == "slow_cred") {
        s.slow_cred = split_list(value);
    } else if (key == "reset_after") {
        if (auto v = parse_int(value, 0, kMaxChunks)) s.reset_after = static_cast<int>(*v);
    } else if (key == "mid_error") {
        if (auto v = parse_int(value, 0, kMaxChunks)) s.mid_error = static_cast<int>(*v);
    } else if (key == "noterm") {
        if (auto v = parse_bool(value)) s.noterm = *v;
    } else if (key == "stamp") {
        if (auto v = parse_bool(value)) s.stamp = *v;
    } else if (key == "size") {
        if (auto v = parse_int(value, 0, kMaxPad)) s.size = static_cast<std::size_t>(*v);
    } else if (key == "piece_size") {
        if (auto v = parse_int(value, 0, kMaxPad)) s.piece_size = static_cast<std::size_t>(*v);
    } else if (key == "calls") {
        if (auto v = parse_int(value, 0, kMaxCalls)) s.calls = static_cast<int>(*v);
    } else if (key == "think") {
        if (auto v = parse_bool(value)) s.think = *v;
    } else if (key == "cached") {
        if (auto v = parse_int(value, 0, kMaxCached)) s.cached = static_cast<int>(*v);
    } else if (key == "hangup") {
        if (auto v = parse_bool(value)) s.hangup = *v;
    } else if (key == "hangup_reused") {
        if (auto v = parse_bool(value)) s.hangup_reused = *v;
    } else if (key == "conn_close") {
        if (auto v = parse_bool(value)) s.conn_close = *v;
    } else if (key == "quota") {
        if (value == "key") s.quota_key = true;
        if (value == "model") s.quota_key = false;
    } else if (key == "both_lengths") {
        if (auto v = parse_bool(value)) s.both_lengths = *v;
    } else if (key == "deep_args") {
        if (auto v = parse_int(value, 1, kMaxDeepArgs)) s.deep_args = static_cast<int>(*v);
    } else if (key == "hint") {
        if (auto h = parse_hint(value)) s.hint = *h;
    } else if (key == "wait") {
        if (auto v = parse_duration(value, kMaxHintNs)) s.wait_ns = *v;
    } else if (key == "remaining") {
        if (auto v = parse_int(value, 0, kMaxRemaining)) s.remaining = *v;
    } else if (key == "reset") {
        if (auto v = parse_duration(value, kMaxHintNs)) s.reset_ns = *v;
    } else if (key == "fail_times") {
        if (auto v = parse_int(value, 1, kMaxFailTimes)) s.fail_times = static_cast<int>(*v);
    } else if (key == "auth") {
        if (value == "oauth") s.auth_oauth = true;
        if (value == "none") s.auth_oauth = false;
    }
}

}  // namespace

std::optional<int64_t> parse_duration(std::string_view text, int64_t max_ns) {
    std::size_t digits = 0;
    while (digits < text.size() &&
           ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) {
        ++digits;
    }
    std::string_view number = text.substr(0, digits);
    std::string_view unit = text.substr(digits);
    if (number.empty() || number.front() == '.' || number.back() == '.' ||
        number.find('.') != number.rfind('.')) {
        return std::nullopt;
    }
    double scale = 0;
    if (unit.empty() || unit == "ms") {
        scale = 1e6;
    } else if (unit == "s") {
        scale = 1e9;
    } else if (unit == "us") {
        scale = 1e3;
    } else if (unit == "m") {
        scale = 60e9;
    } else if (unit == "h") {
        scale = 3600e9;
    } else if (unit == "d") {
        scale = 86400e9;
    } else {
        return std::nullopt;
    }
    double value = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || ptr != number.data() + number.size()) {
        return std::nullopt;
    }
    double ns = std::round(value * scale);
    if (!(ns >= 0) || ns > static_cast<double>(max_ns)) {
        return std::nullopt;
    }
    return static_cast<int64_t>(ns);
}

Script parse_script(std::string_view model) {
    Script s;
    std::size_t plus = model.find('+');
    s.base = std::string(model.substr(0, plus));
    while (plus != std::string_view::npos) {
        std::size_t start = plus + 1;
        plus = model.find('+', start);
        std::string_view token = model.substr(start, plus == std::string_view::npos
                                                         ? std::string_view::npos
                                                         : plus - start);
        std::size_t eq = token.find('=');
        std::string_view key = token.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? std::string_view{}
                                                               : token.substr(eq + 1);
        apply(s, key, value);
    }
    return s;
}

void apply_slow_cred(Script& script, std::string_view credential) {
    if (!script.slow_cred) return;
    for (const std::string& c : *script.slow_cred)
        if (c == credential) return;
    script.delay_ns = script.first_hold_ns = script.hold_ns = script.pace_ns = 0;
}

int error_status_for(const Script& script, std::string_view credential) {
    if (!script.fail_cred) {
        return script.status;
    }
    for (const std::string& c : *script.fail_cred) {
        if (c == credential) {
            return script.status != 0 ? script.status : 429;
        }
    }
    return 0;
}

}  // namespace mock
