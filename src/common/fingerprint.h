// Fingerprint of a secret for logs and status: the first 8 hex digits of its
// SHA-256. A key itself is never logged or shown.
#pragma once

#include <string>
#include <string_view>

namespace agd {

std::string fingerprint(std::string_view secret);
// The SHA-256 of `text` in hex, its first `bytes` bytes (all 32 by default).
std::string sha256_hex(std::string_view text, size_t bytes = 32);
// Constant-time equality for secrets (length leaks, content does not).
bool secret_equal(std::string_view a, std::string_view b);

}  // namespace agd
