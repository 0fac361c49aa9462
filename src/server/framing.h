// FramingCheck: the request-head rules of RFC 9112 that libevhtp's parser
// does not enforce and that a proxy must, because two parsers reading the
// same bytes differently is how request smuggling starts: the body length
// must be unambiguous, and only a Transfer-Encoding the parser really
// decodes is accepted. Fed every header line of a parsed head, in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipeline/errors.h"

namespace agd {

struct FramingVerdict {
    bool ok = true;
    ErrorKind kind = ErrorKind::BadRequest;
    const char* message = "";  // static text
};

class FramingCheck {
public:
    void add(std::string_view name, std::string_view value);
    // http10: the request line said HTTP/1.0 (no Transfer-Encoding there).
    FramingVerdict verdict(bool http10) const;

private:
    bool bad_name_ = false;
    bool bad_length_ = false;     // a Content-Length that is not one number
    bool lengths_differ_ = false;
    bool has_length_ = false;
    uint64_t length_ = 0;
    unsigned codings_ = 0;        // Transfer-Encoding lines
    bool unsupported_coding_ = false;
};

// HeadScanner: reads the bytes of a request head as they arrive, before
// libevhtp's parser does, for the line endings that parser mishandles: a
// bare LF (it may end the head early and stall the connection) and a bare
// CR. RFC 9112 lets a server refuse both. Knows where the head ends (the
// empty line), so the body is never scanned.
class HeadScanner {
public:
    enum class Result { More, End, Bad };
    // Scans data; on End, *used is the number of bytes up to and including
    // the empty line.
    Result feed(const char* data, size_t len, size_t* used);
    void reset() { prev_ = '\n', lines_ = 1; }

private:
    char prev_ = '\n';   // the byte before data (a request starts after a line end)
    unsigned lines_ = 1;  // line ends in a row (2: the empty line)
};

// RFC 9110 token characters (a header name is one token).
bool is_token(std::string_view s);

}  // namespace agd
