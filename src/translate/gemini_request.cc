// Gemini: client request -> IR, and IR -> upstream request.
#include "translate/codecs.h"

namespace agd::translate {

Result<ir::Request> decode_gemini_request(std::string_view, Session&) {
    return Result<ir::Request>::fail(501, "translation from gemini is being written");
}

Result<std::string> encode_gemini_request(const ir::Request&, Session&) {
    return Result<std::string>::fail(501, "translation to gemini is being written");
}

}  // namespace agd::translate
