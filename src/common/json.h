// Small JSON output helpers for hand-built bodies on the hot path.
#pragma once

#include <string>
#include <string_view>

namespace agd {

// Appends s as a quoted JSON string (escaping ", \, control chars; UTF-8 kept as is).
void append_json_string(std::string& out, std::string_view s);
std::string json_string(std::string_view s);

}  // namespace agd
