#include "server/framing.h"

#include <strings.h>

namespace agd {
namespace {

bool name_is(std::string_view name, std::string_view want) {
    return name.size() == want.size() && strncasecmp(name.data(), want.data(), want.size()) == 0;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

bool parse_length(std::string_view v, uint64_t& out) {
    if (v.empty() || v.size() > 19) return false;  // at most 10^19 - 1: no overflow
    uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    out = n;
    return true;
}

}  // namespace

HeadScanner::Result HeadScanner::feed(const char* data, size_t len, size_t* used) {
    for (size_t i = 0; i < len; ++i) {
        char c = data[i];
        if (prev_ == '\r' && c != '\n') return Result::Bad;  // bare CR
        if (c == '\n') {
            if (prev_ != '\r') return Result::Bad;  // bare LF
            if (++lines_ == 2) {
                prev_ = c;
                if (used) *used = i + 1;
                return Result::End;
            }
        } else if (c != '\r') {
            lines_ = 0;
        }
        prev_ = c;
    }
    return Result::More;
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!ok) {
            switch (c) {
                case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
                case '-': case '.': case '^': case '_': case '`': case '|': case '~': ok = true; break;
                default: break;
            }
        }
        if (!ok) return false;
    }
    return true;
}

void FramingCheck::add(std::string_view name, std::string_view value) {
    if (!is_token(name)) {
        // Whitespace before the colon, a folded line, a control byte: a
        // name another parser might read differently (RFC 9112 §5.1).
        bad_name_ = true;
        return;
    }
    if (name_is(name, "content-length")) {
        uint64_t n = 0;
        if (!parse_length(trim(value), n)) {
            bad_length_ = true;
        } else if (has_length_ && n != length_) {
            lengths_differ_ = true;
        }
        has_length_ = true;
        length_ = n;
    } else if (name_is(name, "transfer-encoding")) {
        ++codings_;
        // libevhtp decodes exactly "chunked" (first letter in either case)
        // and reads any other value as no coding at all: accept only what
        // it decodes, so that both read the same body.
        if (!(value.size() == 7 && (value[0] == 'c' || value[0] == 'C') && value.substr(1) == "hunked"))
            unsupported_coding_ = true;
    }
}

FramingVerdict FramingCheck::verdict(bool http10) const {
    if (bad_name_) return {false, ErrorKind::BadRequest, "malformed header field name"};
    if (bad_length_) return {false, ErrorKind::BadRequest, "malformed Content-Length"};
    if (lengths_differ_) return {false, ErrorKind::BadRequest, "conflicting Content-Length values"};
    if (codings_ > 0) {
        if (http10) return {false, ErrorKind::BadRequest, "Transfer-Encoding in an HTTP/1.0 request"};
        if (has_length_) return {false, ErrorKind::BadRequest, "both Content-Length and Transfer-Encoding"};
        if (codings_ > 1) return {false, ErrorKind::BadRequest, "more than one Transfer-Encoding"};
        if (unsupported_coding_)
            return {false, ErrorKind::NotImplemented, "unsupported Transfer-Encoding (only chunked is accepted)"};
    }
    return {};
}

}  // namespace agd
