// Writes HTTP/1.x responses straight onto a libevhtp connection, so the
// mock controls the status line, headers and chunk boundaries itself.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <evhtp.h>

namespace mock {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Status line and headers. With a length: a plain body follows. Without
// one: a streamed body follows (chunked for HTTP/1.1; for HTTP/1.0 the
// body runs until the connection closes).
void send_head(evhtp_request_t* req, int status, const Headers& headers,
               std::optional<std::size_t> content_length);

// Raw bytes of a plain body.
void send_bytes(evhtp_request_t* req, std::string_view data);

// One piece of a streamed body (one HTTP chunk).
void send_chunk(evhtp_request_t* req, std::string_view data);

// Ends a streamed body (chunked terminator) and marks the reply finished.
void send_stream_end(evhtp_request_t* req);

// A complete plain response; marks the reply finished.
void send_full(evhtp_request_t* req, int status, const Headers& headers,
               std::string_view content_type, std::string_view body);

// Makes the reply carry Connection: close and libevhtp close the
// connection once it is written. Call before send_head / send_full.
void close_after_reply(evhtp_request_t* req);

// Reason phrase for a status code.
const char* reason_phrase(int status);

}  // namespace mock
