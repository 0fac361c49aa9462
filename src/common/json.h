// Small JSON output helpers for hand-built bodies on the hot path.
#pragma once

#include <string>
#include <string_view>

namespace agd {

// Appends s as a quoted JSON string (escaping ", \, control chars); valid
// UTF-8 is kept as is, invalid bytes become \ufffd, so the output is always
// valid JSON whatever an upstream sent.
void append_json_string(std::string& out, std::string_view s);
// s with every invalid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view s);
std::string json_string(std::string_view s);

}  // namespace agd
