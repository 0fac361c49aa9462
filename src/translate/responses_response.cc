// OpenAI Responses: upstream answer -> IR, and IR -> client answer.
#include "translate/codecs.h"

namespace agd::translate {

Result<ir::Response> decode_responses_response(std::string_view, Session&) {
    return Result<ir::Response>::fail(502, "translation from responses is being written");
}

std::string encode_responses_response(const ir::Response&, Session&) { return "{}"; }

}  // namespace agd::translate
