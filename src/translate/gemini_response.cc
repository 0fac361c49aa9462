// Gemini: upstream answer -> IR, and IR -> client answer.
#include "translate/codecs.h"

namespace agd::translate {

Result<ir::Response> decode_gemini_response(std::string_view, Session&) {
    return Result<ir::Response>::fail(502, "translation from gemini is being written");
}

std::string encode_gemini_response(const ir::Response&, Session&) { return "{}"; }

}  // namespace agd::translate
