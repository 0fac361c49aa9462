#include "translate/json_util.h"

#include <rapidjson/error/en.h>

#include <cmath>
#include <cstring>
#include <type_traits>

namespace agd::translate {

void note_too_deep(const std::string& message);

namespace {

thread_local unsigned t_depth_limit = kDefaultMaxJsonDepth;
thread_local JsonDepthScope* t_scope = nullptr;

// Feeds a document the parser's events, refusing nesting past `max_depth`
// and repairing strings that are not valid UTF-8. Everything inlines: the
// checks are a compare per container and a word-at-a-time scan per string.
template <class Doc>
class Limited {
public:
    Limited(Doc& doc, unsigned max_depth, bool check_utf8) : doc_(doc), max_(max_depth), check_utf8_(check_utf8) {}
    bool too_deep() const { return too_deep_; }

    bool Null() { return doc_.Null(); }
    bool Bool(bool b) { return doc_.Bool(b); }
    bool Int(int i) { return doc_.Int(i); }
    bool Uint(unsigned u) { return doc_.Uint(u); }
    bool Int64(int64_t i) { return doc_.Int64(i); }
    bool Uint64(uint64_t u) { return doc_.Uint64(u); }
    bool Double(double d) { return doc_.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return doc_.RawNumber(s, n, copy); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) {
        if (!check_utf8_ || is_valid_utf8({s, n})) return doc_.String(s, n, copy);
        std::string fixed = valid_utf8({s, n});
        return doc_.String(fixed.data(), static_cast<rapidjson::SizeType>(fixed.size()), true);
    }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) {
        if (!check_utf8_ || is_valid_utf8({s, n})) return doc_.Key(s, n, copy);
        std::string fixed = valid_utf8({s, n});
        return doc_.Key(fixed.data(), static_cast<rapidjson::SizeType>(fixed.size()), true);
    }
    bool StartObject() { return enter() && doc_.StartObject(); }
    bool EndObject(rapidjson::SizeType n) {
        --depth_;
        return doc_.EndObject(n);
    }
    bool StartArray() { return enter() && doc_.StartArray(); }
    bool EndArray(rapidjson::SizeType n) {
        --depth_;
        return doc_.EndArray(n);
    }

private:
    bool enter() {
        if (++depth_ <= max_) return true;
        too_deep_ = true;
        return false;
    }

    Doc& doc_;
    unsigned max_;
    bool check_utf8_;
    unsigned depth_ = 0;
    bool too_deep_ = false;
};

// The allocator of the reader's stack: a JsonDoc's own buffer, as its
// parse stack; a plain Document's reader takes its own from the heap.
JsonAllocator* stack_allocator(JsonDoc& doc) { return &doc.stack_allocator(); }
rapidjson::CrtAllocator* stack_allocator(rapidjson::Document&) { return nullptr; }

// Texts up to this size are copied into a per-thread buffer, bigger ones
// into their own (a worker does not keep a big request's memory).
constexpr size_t kScratchMax = 64 * 1024;

// Parses a NUL-terminated copy of the text: RapidJSON's fast string and
// whitespace scans (RAPIDJSON_SSE2, meson.build) exist only for
// NUL-terminated input, and read ahead within the aligned 16-byte block of
// the NUL, which the 16 bytes reserved past the end keep inside the buffer.
// The copy is a per-thread scratch buffer, the document copying each string
// out of it; or, in place, a copy in the document's own pool (for a
// JsonDoc, its in-object buffer while the text fits) whose strings the tree
// points to, unescaped where they lie. An embedded NUL ends the text as it
// did in the length-bounded parse, and the bytes of a UTF-8 byte-order mark
// are skipped as its UTF-8 input stream skipped them (each of EF BB BF, in
// order, when present), error offsets still counted from the first byte.
template <class Doc>
JsonStatus parse_into(std::string_view text, Doc& doc, std::string* error, ParseOptions opt) {
    size_t skipped = 0;
    for (unsigned char bom : {0xEFu, 0xBBu, 0xBFu})
        if (skipped < text.size() && static_cast<unsigned char>(text[skipped]) == bom) ++skipped;
    text.remove_prefix(skipped);
    auto* stack = stack_allocator(doc);
    rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, std::remove_pointer_t<decltype(stack)>> reader(stack);
    Limited<Doc> handler(doc, t_depth_limit, !opt.utf8_checked);
    rapidjson::ParseResult pr;
    auto generate = [&](auto&) {
        if (opt.in_place) {
            auto* copy = static_cast<char*>(doc.GetAllocator().Malloc(text.size() + 17));
            if (!copy) {  // no memory for the copy: a failed parse, not an empty document
                pr.Set(rapidjson::kParseErrorTermination);
                return false;
            }
            std::memcpy(copy, text.data(), text.size());
            std::memset(copy + text.size(), 0, 17);
            rapidjson::InsituStringStream is(copy);
            pr = reader.template Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag>(is, handler);
        } else {
            thread_local std::string scratch;
            std::string own;
            std::string& buf = text.size() <= kScratchMax ? scratch : own;
            buf.reserve(text.size() + 16);
            buf.assign(text);
            rapidjson::StringStream is(buf.c_str());
            pr = reader.template Parse<rapidjson::kParseIterativeFlag>(is, handler);
        }
        return !pr.IsError();
    };
    doc.Populate(generate);
    if (!pr.IsError()) return JsonStatus::Ok;
    doc.SetNull();
    if (handler.too_deep()) {
        std::string message = "JSON nested deeper than " + std::to_string(t_depth_limit) +
                              " levels (server.max_json_depth) at byte " + std::to_string(pr.Offset() + skipped);
        note_too_deep(message);
        if (error) *error = std::move(message);
        return JsonStatus::TooDeep;
    }
    if (error)
        *error = "invalid JSON at byte " + std::to_string(pr.Offset() + skipped) + ": " +
                 rapidjson::GetParseError_En(pr.Code());
    return JsonStatus::Invalid;
}

}  // namespace

unsigned json_depth_limit() { return t_depth_limit; }

JsonDepthScope::JsonDepthScope(unsigned limit) : saved_limit_(t_depth_limit), saved_scope_(t_scope) {
    t_depth_limit = limit;
    t_scope = this;
}

JsonDepthScope::~JsonDepthScope() {
    t_depth_limit = saved_limit_;
    t_scope = saved_scope_;
}

void note_too_deep(const std::string& message) {
    if (t_scope && t_scope->what_.empty()) t_scope->what_ = message;
}

JsonStatus parse_json_status(std::string_view text, JsonDoc& doc, std::string* error) {
    return parse_into(text, doc, error, ParseOptions{});
}

bool parse_json(std::string_view text, JsonDoc& doc, std::string* error, ParseOptions opt) {
    return parse_into(text, doc, error, opt) == JsonStatus::Ok;
}

bool parse_json(std::string_view text, rapidjson::Document& doc, std::string* error) {
    return parse_into(text, doc, error, ParseOptions{}) == JsonStatus::Ok;
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
    std::string buf;
    JsonWriter w(buf);
    v.Accept(w);
    return buf;
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
