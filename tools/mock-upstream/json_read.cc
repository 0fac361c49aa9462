#include "json_read.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace mock {

const JValue* member(const JValue& obj, std::string_view name) {
    if (!obj.IsObject()) {
        return nullptr;
    }
    auto it = obj.FindMember(
        JValue(rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

const JValue* member2(const JValue& obj, std::string_view camel, std::string_view snake) {
    const JValue* v = member(obj, camel);
    return v != nullptr ? v : member(obj, snake);
}

std::string_view as_str(const JValue* v) {
    if (v == nullptr || !v->IsString()) {
        return {};
    }
    return {v->GetString(), v->GetStringLength()};
}

std::string_view str_of(const JValue& obj, std::string_view name) { return as_str(member(obj, name)); }

bool present(const JValue& obj, std::string_view name) {
    const JValue* v = member(obj, name);
    return v != nullptr && !v->IsNull();
}

std::string compact(const JValue& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return {buf.GetString(), buf.GetSize()};
}

std::string text_of(const JValue& content) {
    if (content.IsString()) {
        return {content.GetString(), content.GetStringLength()};
    }
    std::string out;
    if (content.IsArray()) {
        for (const JValue& part : content.GetArray()) {
            out += str_of(part, "text");
        }
    }
    return out;
}

bool is_tool_name(std::string_view name, std::size_t max_len) {
    if (name.empty() || name.size() > max_len) {
        return false;
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool has_non_space(std::string_view text) {
    return text.find_first_not_of(" \t\r\n") != std::string_view::npos;
}

}  // namespace mock
