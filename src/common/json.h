// Small JSON output helpers for hand-built bodies on the hot path.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace agd {

// Nesting limit of every JSON text the daemon parses from a peer (a client
// body, a JSON text inside one of its strings, an upstream answer or stream
// event): `server.max_json_depth`, in levels of arrays and objects (`{}` is
// 1). The bounds keep every walk of a parsed value (RapidJSON's own
// serialisation and copies recurse) far below a thread's stack.
inline constexpr unsigned kDefaultMaxJsonDepth = 512;
inline constexpr unsigned kMinMaxJsonDepth = 16;
inline constexpr unsigned kMaxMaxJsonDepth = 4096;

// Appends s as a quoted JSON string (escaping ", \, control chars); valid
// UTF-8 is kept as is, invalid bytes become \ufffd, so the output is always
// valid JSON whatever an upstream sent.
void append_json_string(std::string& out, std::string_view s);
// s with every invalid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view s);
std::string json_string(std::string_view s);

// Offset of the first byte of s that does not begin a valid UTF-8 sequence
// (overlong forms, surrogates and code points past U+10FFFF are invalid),
// or npos when s is valid. ASCII runs are checked 16 bytes at a time (SSE2;
// 8 without it).
size_t invalid_utf8_at(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return invalid_utf8_at(s) == std::string_view::npos; }

// The nesting depth of JSON text given in pieces (tool-call arguments
// streamed in fragments), counted without parsing: brackets outside
// strings. Malformed text is counted as far as it goes.
class JsonDepthCounter {
public:
    void feed(std::string_view piece);
    unsigned max_depth() const { return max_; }

private:
    unsigned depth_ = 0, max_ = 0;
    bool in_string_ = false, escaped_ = false;
};

}  // namespace agd
