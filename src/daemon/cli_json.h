// Reading the daemon's JSON answers in the CLI: members of a type, or
// nothing (an answer from another version may lack them or differ).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>
#include <rapidjson/document.h>

namespace agd::daemon::cli_json {

using rapidjson::Value;

inline const Value* member(const Value& obj, const char* key) {
    if (!obj.IsObject()) return nullptr;
    auto it = obj.FindMember(key);
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

inline std::optional<std::string> get_string(const Value& obj, const char* key) {
    const Value* v = member(obj, key);
    if (v == nullptr || !v->IsString()) return std::nullopt;
    return std::string(v->GetString(), v->GetStringLength());
}

inline std::optional<std::int64_t> get_int(const Value& obj, const char* key) {
    const Value* v = member(obj, key);
    if (v == nullptr) return std::nullopt;
    if (v->IsInt64()) return v->GetInt64();
    if (v->IsUint64()) return std::numeric_limits<std::int64_t>::max();  // beyond int64: clamp
    if (v->IsDouble()) return static_cast<std::int64_t>(v->GetDouble());
    return std::nullopt;
}

inline std::optional<double> get_double(const Value& obj, const char* key) {
    const Value* v = member(obj, key);
    if (v == nullptr || !v->IsNumber()) return std::nullopt;
    return v->GetDouble();
}

inline std::optional<bool> get_bool(const Value& obj, const char* key) {
    const Value* v = member(obj, key);
    if (v == nullptr || !v->IsBool()) return std::nullopt;
    return v->GetBool();
}

// The strings of an array member (other elements are skipped).
inline std::vector<std::string> get_strings(const Value& obj, const char* key) {
    std::vector<std::string> out;
    const Value* v = member(obj, key);
    if (v == nullptr || !v->IsArray()) return out;
    for (const auto& e : v->GetArray())
        if (e.IsString()) out.emplace_back(e.GetString(), e.GetStringLength());
    return out;
}

inline std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& s : items) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

inline std::string plural(std::int64_t n, std::string_view word) {
    return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

// One credential of a `status` or `credentials` answer: a line "<indent><label>:
// state, counters" and, indented further, the models it rests for, what
// upstreams reported of its quota, and its last failure. Times relative to
// `now_wall_ms`. Text from upstreams is made safe for a terminal.
void render_credential(std::string& out, const Value& cred, std::string_view label, std::string_view indent,
                       std::int64_t now_wall_ms);

}  // namespace agd::daemon::cli_json
