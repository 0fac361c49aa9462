#include "translate/tool_schema.h"

#include "translate/json_util.h"

namespace agd::translate {

std::string object_root_schema(std::string_view json) {
    static const char kEmpty[] = "{\"type\":\"object\",\"properties\":{}}";
    JsonDoc d;
    if (json.empty() || !parse_json(json, d) || !d.IsObject()) return kEmpty;
    auto& a = d.GetAllocator();
    const JsonValue* type = member(d, "type");
    bool combinator = member(d, "anyOf") || member(d, "oneOf") || member(d, "allOf");
    if (type && !combinator) {
        if (type->IsString() && get_string(type) == "object") return std::string(json);
        bool has_object = false;
        if (type->IsArray())
            for (const auto& t : type->GetArray()) has_object |= t.IsString() && std::string_view(t.GetString()) == "object";
        if (!has_object) return kEmpty;
    }
    // Merge the object branches of root unions into one object.
    rapidjson::Value props(rapidjson::kObjectType);
    rapidjson::Value required(rapidjson::kArrayType);
    auto add_props = [&](const JsonValue& obj, bool take_required) {
        if (const JsonValue* p = member(obj, "properties"); is_object(p))
            for (const auto& m : p->GetObject())
                if (!props.HasMember(m.name)) props.AddMember(rapidjson::Value(m.name, a), rapidjson::Value(m.value, a), a);
        if (const JsonValue* r = member(obj, "required"); take_required && is_array(r))
            for (const auto& v : r->GetArray()) required.PushBack(rapidjson::Value(v, a), a);
    };
    add_props(d, true);
    for (const char* key : {"allOf", "anyOf", "oneOf"}) {
        const JsonValue* arr = member(d, key);
        if (!is_array(arr)) continue;
        for (const auto& br : arr->GetArray()) add_props(br, std::string_view(key) == "allOf");
    }
    rapidjson::Value out(rapidjson::kObjectType);
    for (const auto& m : d.GetObject()) {
        std::string_view k(m.name.GetString(), m.name.GetStringLength());
        if (k == "type" || k == "properties" || k == "required" || k == "anyOf" || k == "oneOf" || k == "allOf") continue;
        out.AddMember(rapidjson::Value(m.name, a), rapidjson::Value(m.value, a), a);
    }
    out.AddMember("type", "object", a);
    out.AddMember("properties", props, a);
    if (!required.Empty()) out.AddMember("required", required, a);
    return to_json(out);
}

}  // namespace agd::translate
