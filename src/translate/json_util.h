// RapidJSON conveniences for the codecs: type-checked member access that
// never asserts on unexpected input, iterative parsing (deep nesting cannot
// overflow the stack), and the writer (json_out.h) with helpers.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "translate/json_out.h"

namespace agd::translate {

using JsonValue = rapidjson::Value;
using JsonWriter = JsonOut;
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
    // The in-object allocator of the parse stacks, for a reader feeding this document.
    JsonAllocator& stack_allocator() { return stack; }
};

// The nesting limit of every parse on the calling thread: the innermost
// live JsonDepthScope's, else kDefaultMaxJsonDepth (512). The daemon opens a
// scope with `server.max_json_depth` of the request's configuration around
// each call into the codecs (dispatch/translation.cc), and asks it after
// the call whether any parse inside was refused for its depth: many parses
// (tool-call arguments, tool results carried in strings) fall back quietly
// on invalid JSON, but JSON nested too deep is the peer's error (400 for a
// client, 502 for an upstream), whichever parse met it.
unsigned json_depth_limit();
class JsonDepthScope {
public:
    explicit JsonDepthScope(unsigned limit);
    ~JsonDepthScope();
    JsonDepthScope(const JsonDepthScope&) = delete;
    JsonDepthScope& operator=(const JsonDepthScope&) = delete;

    // A parse on this thread while this is the innermost scope was refused
    // for its depth; what() is the first such parse's message.
    bool exceeded() const { return !what_.empty(); }
    const std::string& what() const { return what_; }
    void clear() { what_.clear(); }

private:
    friend void note_too_deep(const std::string& message);
    unsigned saved_limit_;
    JsonDepthScope* saved_scope_;
    std::string what_;
};

enum class JsonStatus { Ok, Invalid, TooDeep };

// How a parse may go about it, for the callers that allow more than the default.
struct ParseOptions {
    // Strings point into one copy of the text kept in the document's pool
    // instead of each being copied: faster, but RapidJSON copies such
    // strings as references, so no value of this document (nor a copy made
    // with Value(v, allocator) or CopyFrom) may be kept past the document's
    // life. The codecs' top-level decoders use it: they keep only
    // std::strings of what they read.
    bool in_place = false;
    // The text was already refused unless each of its strings is valid
    // UTF-8 (the body stage's scan of a client body): no string is checked
    // or repaired again.
    bool utf8_checked = false;
};

// Parses iteratively (RapidJSON's parser never recurses), refusing text
// nested deeper than json_depth_limit(): every DOM the codecs walk is that
// shallow, so RapidJSON's recursive Accept and deep copies stay bounded.
// Strings that are not valid UTF-8 (raw bytes, or a lone low surrogate
// escape such as "\udc00") are kept with U+FFFD for each bad byte, so
// whatever is written from the DOM is valid UTF-8. On failure returns
// Invalid or TooDeep and sets `error` to a message fit for a client
// ("invalid JSON at byte 17: ...", "JSON nested deeper than 512 levels (server.max_json_depth) at byte 17").
JsonStatus parse_json_status(std::string_view text, JsonDoc& doc, std::string* error = nullptr);
// The same, true when Ok.
bool parse_json(std::string_view text, JsonDoc& doc, std::string* error = nullptr, ParseOptions opt = {});
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
// Reserves `out` for the translation of a body of `body_bytes` (a little
// more: names and envelopes differ), so that it is written without regrowing.
inline void reserve_output(std::string& out, size_t body_bytes) { out.reserve(body_bytes + body_bytes / 4 + 512); }
void write_string(JsonWriter& w, std::string_view s);
void write_key(JsonWriter& w, std::string_view key);
// Writes an already serialized JSON value; "" writes `fallback` instead.
void write_raw(JsonWriter& w, std::string_view json, std::string_view fallback = "{}");

}  // namespace agd::translate
