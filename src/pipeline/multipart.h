// Multipart scan: the body of an OpenAI upload (POST /v1/images/edits,
// /v1/audio/transcriptions, /v1/audio/translations) is multipart/form-data
// (RFC 7578), and the model it names, which routing needs, is one of its
// form fields. The scan walks the parts once, in a loop (a part that is
// itself multipart is content, never descended into), checks that the body
// is well framed up to its closing delimiter, and finds the `model` field's
// value and its byte span, so that a passthrough can rename it in place.
// Every count and size a client controls is bounded (kMultipart*); the
// body is never copied.
#pragma once

#include <cstddef>
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

}  // namespace agd
