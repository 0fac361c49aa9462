#include "translate/json_util.h"

#include <rapidjson/error/en.h>

#include <cmath>

namespace agd::translate {

namespace {

// Texts up to this size are copied into a per-thread buffer, bigger ones
// into their own (a worker does not keep a big request's memory).
constexpr size_t kScratchMax = 64 * 1024;

// Parses a NUL-terminated copy of the text: RapidJSON's fast string and
// whitespace scans (RAPIDJSON_SSE2, meson.build) exist only for
// NUL-terminated input, and read ahead within the aligned 16-byte block of
// the NUL, which the 16 bytes reserved past the end keep inside the buffer.
// An embedded NUL ends the text as it did in the length-bounded parse, and
// the bytes of a UTF-8 byte-order mark are skipped as its UTF-8 input stream
// skipped them (each of EF BB BF, in order, when present), error offsets
// still counted from the first byte.
template <class Doc>
bool parse_into(std::string_view text, Doc& doc, std::string* error) {
    size_t skipped = 0;
    for (unsigned char bom : {0xEFu, 0xBBu, 0xBFu})
        if (skipped < text.size() && static_cast<unsigned char>(text[skipped]) == bom) ++skipped;
    text.remove_prefix(skipped);
    thread_local std::string scratch;
    std::string own;
    std::string& buf = text.size() <= kScratchMax ? scratch : own;
    buf.reserve(text.size() + 16);
    buf.assign(text);
    doc.template Parse<rapidjson::kParseIterativeFlag>(buf.c_str());
    if (!doc.HasParseError()) return true;
    if (error)
        *error = "invalid JSON at byte " + std::to_string(doc.GetErrorOffset() + skipped) + ": " +
                 rapidjson::GetParseError_En(doc.GetParseError());
    return false;
}

}  // namespace

bool parse_json(std::string_view text, JsonDoc& doc, std::string* error) { return parse_into(text, doc, error); }

bool parse_json(std::string_view text, rapidjson::Document& doc, std::string* error) {
    return parse_into(text, doc, error);
}

const JsonValue* member(const JsonValue& obj, std::string_view key) {
    if (!obj.IsObject()) return nullptr;
    auto it = obj.FindMember(rapidjson::Value(rapidjson::StringRef(key.data(), key.size())));
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

const JsonValue* member(const JsonValue& obj, std::string_view camel, std::string_view snake) {
    const JsonValue* v = member(obj, camel);
    return v ? v : member(obj, snake);
}

std::string_view get_string(const JsonValue* v) {
    if (!v || !v->IsString()) return {};
    return {v->GetString(), v->GetStringLength()};
}

std::optional<int64_t> get_int(const JsonValue* v) {
    if (!v || !v->IsNumber()) return std::nullopt;
    if (v->IsInt64()) return v->GetInt64();
    if (v->IsUint64()) return static_cast<int64_t>(v->GetUint64() > INT64_MAX ? INT64_MAX : v->GetUint64());
    double d = v->GetDouble();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) return static_cast<int64_t>(d);
    return std::nullopt;
}

std::optional<double> get_double(const JsonValue* v) {
    if (!v || !v->IsNumber()) return std::nullopt;
    return v->GetDouble();
}

std::optional<bool> get_bool(const JsonValue* v) {
    if (!v || !v->IsBool()) return std::nullopt;
    return v->GetBool();
}

bool is_object(const JsonValue* v) { return v && v->IsObject(); }
bool is_array(const JsonValue* v) { return v && v->IsArray(); }

std::string to_json(const JsonValue& v) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    v.Accept(w);
    return std::string(buf.GetString(), buf.GetSize());
}

void write_string(JsonWriter& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void write_key(JsonWriter& w, std::string_view key) { w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size())); }

void write_raw(JsonWriter& w, std::string_view json, std::string_view fallback) {
    std::string_view v = json.empty() ? fallback : json;
    rapidjson::Type t = rapidjson::kObjectType;
    if (!v.empty()) {
        switch (v.front()) {
            case '[': t = rapidjson::kArrayType; break;
            case '"': t = rapidjson::kStringType; break;
            case 't': t = rapidjson::kTrueType; break;
            case 'f': t = rapidjson::kFalseType; break;
            case 'n': t = rapidjson::kNullType; break;
            case '{': break;
            default: t = rapidjson::kNumberType; break;
        }
    }
    w.RawValue(v.data(), v.size(), t);
}

}  // namespace agd::translate
