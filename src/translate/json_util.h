// RapidJSON conveniences for the codecs: type-checked member access that
// never asserts on unexpected input, iterative parsing (deep nesting cannot
// overflow the stack), and a writer that emits raw JSON sub-values.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agd::translate {

using JsonValue = rapidjson::Value;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Parses iteratively. On failure returns false and sets `error` to a
// message fit for a client ("invalid JSON at byte 17: ...").
bool parse_json(std::string_view text, rapidjson::Document& doc, std::string* error = nullptr);

// The member `key` of `obj`, or nullptr when obj is not an object or has no such member.
const JsonValue* member(const JsonValue& obj, std::string_view key);
// Gemini's proto3 JSON: the camelCase or the snake_case spelling.
const JsonValue* member(const JsonValue& obj, std::string_view camel, std::string_view snake);

std::string_view get_string(const JsonValue* v);             // "" unless a string
std::optional<int64_t> get_int(const JsonValue* v);           // integral numbers (and whole doubles)
std::optional<double> get_double(const JsonValue* v);         // any number
std::optional<bool> get_bool(const JsonValue* v);
bool is_object(const JsonValue* v);
bool is_array(const JsonValue* v);

// Compact JSON text of a value.
std::string to_json(const JsonValue& v);

// Writer helpers.
void write_string(JsonWriter& w, std::string_view s);
void write_key(JsonWriter& w, std::string_view key);
// Writes an already serialized JSON value; "" writes `fallback` instead.
void write_raw(JsonWriter& w, std::string_view json, std::string_view fallback = "{}");

}  // namespace agd::translate
