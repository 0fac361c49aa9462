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
using JsonAllocator = rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator>;

namespace detail {
// The buffers of a JsonDoc: a base class, so that they exist before the
// document that allocates from them and outlive it.
struct JsonDocArena {
    static constexpr size_t kValueBytes = 8 * 1024;
    static constexpr size_t kStackBytes = 4 * 1024;
    alignas(16) char value_buf[kValueBytes];
    alignas(16) char stack_buf[kStackBytes];
    JsonAllocator values{value_buf, kValueBytes};
    JsonAllocator stack{stack_buf, kStackBytes};
};
}  // namespace detail

// A RapidJSON document whose values, copied strings and parse stacks live,
// up to 8 + 4 KiB, in buffers inside the object, that is on the stack of the
// function decoding: a request, an answer or a stream event of ordinary size
// is parsed without a malloc (a plain rapidjson::Document takes a 64 KiB
// chunk, its parse stack and the reader's stack from the heap, and frees them
// again, for every parse). Bigger documents go on in heap chunks. Its values
// are plain JsonValues; it cannot be copied or moved.
class JsonDoc : private detail::JsonDocArena,
                public rapidjson::GenericDocument<rapidjson::UTF8<>, JsonAllocator, JsonAllocator> {
public:
    JsonDoc() : GenericDocument(&values, kStackBytes / 4, &stack) {}
    JsonDoc(const JsonDoc&) = delete;
    JsonDoc& operator=(const JsonDoc&) = delete;
};

// Parses iteratively. On failure returns false and sets `error` to a
// message fit for a client ("invalid JSON at byte 17: ...").
bool parse_json(std::string_view text, JsonDoc& doc, std::string* error = nullptr);
// The same into a heap-allocated document (one that must be stored or moved).
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
