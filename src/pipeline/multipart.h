// Multipart scan: the body of an OpenAI upload (POST /v1/images/edits,
// /v1/audio/transcriptions, /v1/audio/translations) is multipart/form-data
// (RFC 7578), and the model it names, which routing needs, is one of its
// form fields. The scan walks the parts once, in a loop (a part that is
// itself multipart is content, never descended into), checks that the body
// is well framed up to its closing delimiter, and finds the `model` field's
// value and its byte span, so that a passthrough can rename it in place.
// Every count and size a client controls is bounded (kMultipart*); the
// body is never copied.
//
// The scan is incremental (MultipartScan): a streamed upload is checked as
// its bytes arrive, and only bytes already checked go upstream, so that no
// part the scan has not seen (a second `model` field, say) can reach the
// provider ahead of the check. scan_multipart is the same scan over a body
// that is all there.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"
#include "pipeline/body.h"

namespace agd {

inline constexpr size_t kMultipartMaxParts = 1000;        // parts in one body
inline constexpr size_t kMultipartMaxHeaderBytes = 8192;  // one part's header block
inline constexpr size_t kMultipartMaxHeaders = 32;        // header lines of one part
inline constexpr size_t kMultipartMaxModelBytes = 512;    // the model field's value

// True when a Content-Type value is multipart/form-data (any parameters).
bool is_multipart_form(std::string_view content_type);

// The boundary parameter of a multipart Content-Type value (quoted or not),
// or a 400 message: absent, empty, longer than RFC 2046's 70 characters,
// or with characters RFC 2046 does not allow.
Result<std::string_view> multipart_boundary(std::string_view content_type);

// Scans `body` (its Content-Type header's value given). On success the
// BodyInfo has multipart set, and, when the body has a `model` field,
// has_model, model, and model_begin/model_end: the byte span of its value.
// The `stream` field, when "true", sets has_stream/stream. A body that is
// not well framed, with too many parts or headers, or with a second
// `model` field, is refused with a message fit for the client; so is what
// a server could read two ways (two boundary parameters, two
// Content-Disposition headers or names in a part, RFC 2231's name*), so
// that routing and the upstream see the same model.
Result<BodyInfo> scan_multipart(std::string_view content_type, std::string_view body);

// The scan of a body that arrives in pieces. Offsets are from the body's
// first byte; the caller hands each call the bytes it holds from some
// offset on (it may drop those before checked()) and says when the body
// has ended. A refusal is final.
class MultipartScan {
public:
    // A 400 message when the Content-Type has no usable boundary.
    static Result<MultipartScan> open(std::string_view content_type);

    // `held`: the body's bytes from offset `base` (<= checked()) to what
    // has arrived; `end`: the body ends with them. Checks as far as it can.
    Status advance(std::string_view held, size_t base, bool end);

    // Bytes before this offset are checked: they may go upstream. (A
    // content's last bytes wait until it is clear they do not start a
    // delimiter; a `model` field waits until it is whole.)
    size_t checked() const { return checked_; }
    bool model_known() const { return model_known_; }  // the `model` field was read whole
    bool closed() const { return state_ == State::Closed; }  // the closing delimiter was seen
    const BodyInfo& info() const { return info_; }

private:
    enum class State { Preamble, AfterDelimiter, Headers, Content, Closed };
    MultipartScan() = default;
    Status content_end(std::string_view value, size_t close);

    char delim_buf_[4 + 70] = {};
    size_t delim_len_ = 0;  // "\r\n--" + boundary
    State state_ = State::Preamble;
    bool in_preamble_ = false;  // the body did not open with the boundary
    size_t pos_ = 0;        // where the current state reads from
    size_t search_ = 0;     // where the next search for a delimiter (or a blank line) starts
    size_t content_ = 0;    // the current part's content
    size_t parts_ = 0;
    std::string field_;     // the current part's form field name
    size_t checked_ = 0;
    bool model_known_ = false;
    BodyInfo info_;
};

}  // namespace agd
