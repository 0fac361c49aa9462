// JSON Schema -> the OpenAPI subset Gemini accepts (protocols.md §6.7, §7.5).
// The walk follows schema positions only (properties' values, items,
// anyOf/oneOf/allOf branches); property names, enum values, defaults and
// examples are data and are never rewritten.
#include "translate/gemini_schema.h"

#include <rapidjson/document.h>

#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include "translate/json_util.h"

namespace agd::translate {
namespace {

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

constexpr int kMaxDepth = 64;     // schema nesting
constexpr int kMaxRefDepth = 6;   // nested $ref expansions (recursive schemas)
constexpr int kMaxNodes = 20000;  // total output nodes (ref expansion can multiply)

const char* const kDefaultSchema = "{\"type\":\"object\",\"properties\":{}}";

struct Ctx {
    const Value* root;
    Alloc& a;
    int nodes = 0;
};

std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
}

Value str(std::string_view s, Alloc& a) { return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a); }

void put(Value& obj, std::string_view key, Value v, Alloc& a) {
    auto it = obj.FindMember(rapidjson::StringRef(key.data(), key.size()));
    if (it != obj.MemberEnd()) it->value = std::move(v);
    else obj.AddMember(str(key, a), std::move(v), a);
}

bool supported_format(std::string_view f) {
    return f == "enum" || f == "date-time" || f == "int32" || f == "int64" || f == "float" || f == "double";
}

bool numeric_keyword(std::string_view k) {
    return k == "minItems" || k == "maxItems" || k == "minLength" || k == "maxLength" || k == "minimum" ||
           k == "maximum" || k == "minProperties" || k == "maxProperties";
}

// A local JSON pointer ("#", "#/$defs/X", "#/definitions/X/properties/y").
const Value* resolve_ref(const Value& root, std::string_view ref) {
    if (ref.empty() || ref.front() != '#') return nullptr;
    ref.remove_prefix(1);
    const Value* cur = &root;
    while (!ref.empty()) {
        if (ref.front() != '/') return nullptr;
        ref.remove_prefix(1);
        size_t slash = ref.find('/');
        std::string_view raw = ref.substr(0, slash);
        ref = slash == std::string_view::npos ? std::string_view() : ref.substr(slash);
        std::string token;
        for (size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
                token.push_back(raw[i + 1] == '0' ? '~' : '/');
                ++i;
            } else {
                token.push_back(raw[i]);
            }
        }
        if (cur->IsObject()) {
            cur = member(*cur, token);
        } else if (cur->IsArray()) {
            char* end = nullptr;
            unsigned long idx = std::strtoul(token.c_str(), &end, 10);
            if (token.empty() || *end != '\0' || idx >= cur->Size()) return nullptr;
            cur = &(*cur)[static_cast<rapidjson::SizeType>(idx)];
        } else {
            return nullptr;
        }
        if (!cur) return nullptr;
    }
    return cur;
}

bool is_null_type(const Value& v) {
    const Value* t = member(v, "type");
    return t && t->IsString() && ieq(sv(*t), "null");
}

// A branch that only says "null" (an anyOf/oneOf member {"type":"null"}).
bool is_null_branch(const Value& b) {
    if (!is_null_type(b)) return false;
    for (auto& m : b.GetObject()) {
        std::string_view k = sv(m.name);
        if (k != "type" && k != "description" && k != "title" && k != "nullable") return false;
    }
    return true;
}

void append_description(Value& out, const std::string& text, Alloc& a) {
    auto it = out.FindMember("description");
    if (it != out.MemberEnd() && it->value.IsString() && it->value.GetStringLength() > 0) {
        std::string d(sv(it->value));
        d += ' ';
        d += text;
        it->value = str(d, a);
    } else {
        put(out, "description", str(text, a), a);
    }
}

std::string scalar_text(const Value& v) {
    if (v.IsString()) return std::string(sv(v));
    return to_json(v);
}

Value sanitize(const Value& in, Ctx& c, int depth, int ref_depth);

// Folds a sanitized branch into `out`: properties are united, required
// names collected, everything else fills what `out` lacks.
void merge_into(Value& out, Value& b, std::vector<std::string>& required, bool& nullable, Alloc& a) {
    if (!b.IsObject()) return;
    for (auto& m : b.GetObject()) {
        std::string_view k = sv(m.name);
        if (k == "properties" && m.value.IsObject()) {
            auto it = out.FindMember("properties");
            if (it == out.MemberEnd() || !it->value.IsObject()) {
                put(out, "properties", Value(m.value, a), a);
                continue;
            }
            for (auto& pm : m.value.GetObject())
                if (!it->value.HasMember(pm.name)) it->value.AddMember(Value(pm.name, a), Value(pm.value, a), a);
        } else if (k == "required" && m.value.IsArray()) {
            for (auto& r : m.value.GetArray())
                if (r.IsString()) required.emplace_back(sv(r));
        } else if (k == "nullable") {
            if (m.value.IsBool() && m.value.GetBool()) nullable = true;
        } else if (!out.HasMember(m.name)) {
            out.AddMember(Value(m.name, a), Value(m.value, a), a);
        }
    }
}

Value fallback_object(Alloc& a) {
    Value v(rapidjson::kObjectType);
    v.AddMember("type", "object", a);
    return v;
}

Value sanitize_ref(const Value& in, const Value& ref, Ctx& c, int depth, int ref_depth) {
    const Value* target = ref_depth < kMaxRefDepth ? resolve_ref(*c.root, sv(ref)) : nullptr;
    Value merged(rapidjson::kObjectType);
    if (target && target->IsObject()) {
        for (auto& m : target->GetObject())
            if (!in.HasMember(m.name)) merged.AddMember(Value(m.name, c.a), Value(m.value, c.a), c.a);
    }
    for (auto& m : in.GetObject())
        if (sv(m.name) != "$ref") merged.AddMember(Value(m.name, c.a), Value(m.value, c.a), c.a);
    if (!target && !merged.HasMember("type") && !merged.HasMember("anyOf") && !merged.HasMember("oneOf") &&
        !merged.HasMember("allOf"))
        merged.AddMember("type", "object", c.a);
    return sanitize(merged, c, depth + 1, ref_depth + 1);
}

void apply_enum(Value& out, const Value* enum_v, const Value* const_v, bool& nullable, Alloc& a) {
    std::vector<const Value*> values;
    if (enum_v && enum_v->IsArray()) {
        for (auto& v : enum_v->GetArray()) values.push_back(&v);
    } else if (const_v) {
        values.push_back(const_v);
    } else {
        return;
    }
    bool all_strings = true;
    std::vector<const Value*> kept;
    for (const Value* v : values) {
        if (v->IsNull()) {
            nullable = true;
            continue;
        }
        if (!v->IsString()) all_strings = false;
        kept.push_back(v);
    }
    if (kept.empty()) return;
    const Value* t = member(out, "type");
    bool string_type = t && t->IsString() && ieq(sv(*t), "string");
    bool scalars = true;
    for (const Value* v : kept)
        if (v->IsObject() || v->IsArray()) scalars = false;
    if (all_strings || (string_type && scalars)) {
        Value arr(rapidjson::kArrayType);
        for (const Value* v : kept) arr.PushBack(str(scalar_text(*v), a), a);
        put(out, "enum", std::move(arr), a);
        if (!t) put(out, "type", Value("string"), a);
        return;
    }
    // Gemini takes string enums only: state the allowed values in prose.
    std::string text = "Allowed values: ";
    for (size_t i = 0; i < kept.size(); ++i) {
        if (i) text += ", ";
        text += to_json(*kept[i]);
    }
    text += '.';
    append_description(out, text, a);
}

// The same object with "type" as its first member (easier to read in logs).
Value type_first(Value& obj, Alloc& a) {
    auto t = obj.FindMember("type");
    if (t == obj.MemberEnd() || t == obj.MemberBegin()) return std::move(obj);
    Value out(rapidjson::kObjectType);
    out.AddMember("type", t->value, a);
    for (auto& m : obj.GetObject())
        if (sv(m.name) != "type") out.AddMember(m.name, m.value, a);
    return out;
}

Value sanitize(const Value& in, Ctx& c, int depth, int ref_depth) {
    if (++c.nodes > kMaxNodes || depth > kMaxDepth) return fallback_object(c.a);
    if (!in.IsObject()) return Value(rapidjson::kObjectType);  // `true`/`false` schemas: anything
    if (const Value* ref = member(in, "$ref"); ref && ref->IsString()) return sanitize_ref(in, *ref, c, depth, ref_depth);

    Alloc& a = c.a;
    Value out(rapidjson::kObjectType);
    std::vector<std::string> types;
    std::vector<std::string> required;
    std::vector<Value> branches;
    bool nullable = false, had_union = false;
    const Value* enum_v = nullptr;
    const Value* const_v = nullptr;
    const Value* all_of = nullptr;

    for (auto& m : in.GetObject()) {
        std::string_view k = sv(m.name);
        const Value& v = m.value;
        if (k == "type") {
            if (v.IsString()) {
                types.emplace_back(sv(v));
            } else if (v.IsArray()) {
                bool null_seen = false;
                for (auto& t : v.GetArray()) {
                    if (!t.IsString()) continue;
                    if (ieq(sv(t), "null")) null_seen = true;
                    else types.emplace_back(sv(t));
                }
                if (types.empty() && null_seen) types.emplace_back("null");
                else if (null_seen) nullable = true;
            }
        } else if (k == "properties") {
            if (!v.IsObject()) continue;
            Value props(rapidjson::kObjectType);
            for (auto& pm : v.GetObject()) props.AddMember(Value(pm.name, a), sanitize(pm.value, c, depth + 1, ref_depth), a);
            put(out, "properties", std::move(props), a);
        } else if (k == "items") {
            if (v.IsObject()) put(out, "items", sanitize(v, c, depth + 1, ref_depth), a);
            else if (v.IsArray() && !v.Empty()) put(out, "items", sanitize(v[0], c, depth + 1, ref_depth), a);
        } else if (k == "anyOf" || k == "oneOf") {
            if (!v.IsArray()) continue;
            had_union = true;
            for (auto& b : v.GetArray()) branches.push_back(sanitize(b, c, depth + 1, ref_depth));
        } else if (k == "allOf") {
            if (v.IsArray()) all_of = &v;
        } else if (k == "enum") {
            enum_v = &v;
        } else if (k == "const") {
            const_v = &v;
        } else if (k == "required") {
            if (v.IsArray())
                for (auto& r : v.GetArray())
                    if (r.IsString()) required.emplace_back(sv(r));
        } else if (k == "format") {
            if (v.IsString() && supported_format(sv(v))) put(out, k, Value(v, a), a);
        } else if (k == "description" || k == "title" || k == "pattern") {
            if (v.IsString()) put(out, k, Value(v, a), a);
        } else if (k == "nullable") {
            if (v.IsBool() && v.GetBool()) nullable = true;
        } else if (numeric_keyword(k)) {
            if (v.IsNumber()) put(out, k, Value(v, a), a);
        } else if (k == "default" || k == "example") {
            put(out, k, Value(v, a), a);  // data: copied as it is
        } else if (k == "propertyOrdering") {
            if (v.IsArray()) put(out, k, Value(v, a), a);
        }
        // Everything else ($schema, $id, $defs, definitions, additionalProperties,
        // patternProperties, propertyNames, if/then/else, not, x-*, ...) is dropped.
    }

    if (types.size() == 1) {
        put(out, "type", str(types[0], a), a);
    } else if (types.size() > 1) {
        had_union = true;
        for (const std::string& t : types) {
            Value b(rapidjson::kObjectType);
            b.AddMember("type", str(t, a), a);
            branches.push_back(std::move(b));
        }
    }

    if (had_union) {
        std::vector<Value> rest;
        for (Value& b : branches) {
            if (is_null_branch(b)) nullable = true;
            else rest.push_back(std::move(b));
        }
        if (rest.size() == 1) {
            merge_into(out, rest[0], required, nullable, a);
        } else if (rest.size() > 1) {
            Value arr(rapidjson::kArrayType);
            for (Value& b : rest) arr.PushBack(std::move(b), a);
            put(out, "anyOf", std::move(arr), a);
        }
    }

    if (all_of) {
        for (auto& b : all_of->GetArray()) {
            Value sb = sanitize(b, c, depth + 1, ref_depth);
            merge_into(out, sb, required, nullable, a);
        }
    }

    apply_enum(out, enum_v, const_v, nullable, a);

    if (!out.HasMember("type") && !out.HasMember("anyOf")) {
        if (out.HasMember("properties")) put(out, "type", Value("object"), a);
        else if (out.HasMember("items")) put(out, "type", Value("array"), a);
    }
    if (const Value* t = member(out, "type"); t && t->IsString() && ieq(sv(*t), "array") && !out.HasMember("items")) {
        Value items(rapidjson::kObjectType);
        items.AddMember("type", "string", a);
        put(out, "items", std::move(items), a);
    }

    if (nullable) put(out, "nullable", Value(true), a);

    if (!required.empty()) {
        const Value* props = member(out, "properties");
        Value arr(rapidjson::kArrayType);
        std::vector<std::string> seen;
        for (const std::string& r : required) {
            if (!props || !props->IsObject() || !member(*props, r)) continue;
            bool dup = false;
            for (const std::string& s : seen) dup = dup || s == r;
            if (dup) continue;
            seen.push_back(r);
            arr.PushBack(str(r, a), a);
        }
        if (!arr.Empty()) put(out, "required", std::move(arr), a);
    }
    return type_first(out, a);
}

}  // namespace

std::string gemini_schema(std::string_view schema_json) {
    JsonDoc doc;
    if (!parse_json(schema_json, doc) || !doc.IsObject()) return kDefaultSchema;
    rapidjson::Document out;
    Ctx c{&doc, out.GetAllocator()};
    Value v = sanitize(doc, c, 0, 0);
    return to_json(v);
}

}  // namespace agd::translate
