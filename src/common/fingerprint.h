// Fingerprint of a secret for logs and status: the first 8 hex digits of its
// SHA-256. A key itself is never logged or shown.
#pragma once

#include <string>
#include <string_view>

namespace agd {

std::string fingerprint(std::string_view secret);
// Constant-time equality for secrets (length leaks, content does not).
bool secret_equal(std::string_view a, std::string_view b);

}  // namespace agd
