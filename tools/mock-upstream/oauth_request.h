// Reading a token request (RFC 6749 section 4.1.3 / 6): the form or JSON
// body and HTTP Basic client authentication, with size bounds.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "introspect.h"

namespace mock {

inline constexpr std::size_t kMaxTokenBody = 64 * 1024;  // bytes of a token request body
inline constexpr std::size_t kMaxTokenField = 4096;      // bytes of one decoded field

struct TokenRequest {
    std::optional<std::string> grant_type, refresh_token, client_id, client_secret, scope;
    // A malformed request: its status (400, 413) and the OAuth error answer.
    int bad_status = 0;
    std::string error;              // invalid_request, invalid_client
    std::string error_description;  // never echoes what the peer sent
};

// application/x-www-form-urlencoded (percent-decoded, '+' is a space), or a
// JSON object of strings when the Content-Type says json or the body starts
// with '{'. Client credentials may also come in Authorization: Basic.
TokenRequest read_token_request(const RecordedRequest& in);

}  // namespace mock
