// The one table that maps a gateway error to the HTTP status and error JSON
// of the client's own protocol (protocols.md §6.12), before and after the
// first byte of a response.
#pragma once

#include <string>
#include <string_view>

#include "pipeline/protocol.h"

namespace agd {

enum class ErrorKind {
    BadRequest,        // 400
    Unauthorized,      // 401
    Forbidden,         // 403
    NotFound,          // 404 (path)
    ModelNotFound,     // 404 (model)
    MethodNotAllowed,  // 405
    TooLarge,          // 413
    RateLimited,       // 429
    Internal,          // 500
    NotImplemented,    // 501
    BadGateway,        // 502
    Unavailable,       // 503 (529 for Anthropic clients)
    Timeout,           // 504
    RequestTimeout,    // 408: the client's head or body did not arrive in time
    UriTooLong,        // 414
    HeaderTooLarge,    // 431
    UpgradeRequired,   // 426: a WebSocket asked of an endpoint served over HTTP only
};

struct ErrorReply {
    int status = 500;
    std::string body;  // JSON
};

ErrorReply error_reply(Surface surface, ErrorKind kind, std::string_view message);

// The kind of an upstream's HTTP error status (429 -> RateLimited, 529 -> Unavailable, ...).
ErrorKind error_kind_for_status(int status);

// The protocol's own in-stream error event, SSE framing included, for an
// error after the response headers went out (never a fake clean end).
std::string stream_error_event(Protocol protocol, ErrorKind kind, std::string_view message);

}  // namespace agd
