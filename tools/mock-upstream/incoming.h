// A received request, copied out of libevhtp, and the credential it carries.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <evhtp.h>

#include "introspect.h"

namespace mock {

// on_headers hook for every request. libevhtp parses an
// application/x-www-form-urlencoded body as the query string when the URL
// has none; an empty query set here keeps the body out of the query.
evhtp_res on_request_headers(evhtp_request_t* req, evhtp_headers_t* headers, void* arg);

// method, raw path, raw query, lowercased headers, body, credential.
RecordedRequest read_incoming(evhtp_request_t* req);

// The first header with this lowercase name, if any.
const std::string* find_header(const RecordedRequest& in, std::string_view name);

// Decodes %XX escapes; with plus_is_space also '+' (query strings).
std::string percent_decode(std::string_view text, bool plus_is_space);

// The decoded value of a query parameter, if present.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

}  // namespace mock
