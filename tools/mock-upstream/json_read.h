// Reading helpers over a parsed (rapidjson) request body.
#pragma once

#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace mock {

using JValue = rapidjson::Value;

// obj[name], or nullptr when obj is not an object or has no such member.
const JValue* member(const JValue& obj, std::string_view name);
// The first present of obj[camel] and obj[snake] (Gemini accepts both).
const JValue* member2(const JValue& obj, std::string_view camel, std::string_view snake);
// obj[name] as a string view; empty when absent or not a string.
std::string_view str_of(const JValue& obj, std::string_view name);
// The value as a string view (empty when it is not a string).
std::string_view as_str(const JValue* v);
// True when obj[name] is present and not null.
bool present(const JValue& obj, std::string_view name);

// Compact JSON text of a value.
std::string compact(const JValue& v);

// The text of a content value: a string, or the "text" of every part of an
// array that has one, concatenated.
std::string text_of(const JValue& content);

// True when every character is [a-zA-Z0-9_-] and the length is 1..max_len.
bool is_tool_name(std::string_view name, std::size_t max_len);

// True when the text has a character other than space, tab, CR, LF.
bool has_non_space(std::string_view text);

}  // namespace mock
