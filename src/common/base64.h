// Base64 (RFC 4648) for the few places that need it: media data carried
// between APIs, OpenAI's base64 embeddings.
#pragma once

#include <string>
#include <string_view>

namespace agd {

// Standard alphabet, padded.
std::string base64_encode(std::string_view in);

// Standard or URL-safe alphabet; padding, CR, LF and spaces skipped. False
// on any other character (out then holds what was decoded before it).
bool base64_decode(std::string_view in, std::string& out);

}  // namespace agd
