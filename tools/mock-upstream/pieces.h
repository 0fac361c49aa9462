// The generated text: piece markers, padding and token counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "script.h"

namespace mock {

// CLOCK_MONOTONIC in nanoseconds.
int64_t monotonic_ns();

// Piece i: "#<i>;" ("#<i>@<ns>;" with stamp=1). Piece 0 is prefixed with
// "cred=<credential>;model=<model>;". Padded with 'x' to at least pad_to bytes.
std::string piece_text(const Script& script, int index, std::string_view credential,
                       std::string_view model, std::size_t pad_to);

// The non-stream text: every piece concatenated, padded to script.size bytes.
std::string full_text(const Script& script, std::string_view credential,
                      std::string_view model);

// Token count the mock reports for a request body: max(1, bytes / 4).
int input_tokens(std::size_t body_bytes);

}  // namespace mock
