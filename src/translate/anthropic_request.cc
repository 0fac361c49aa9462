// Anthropic Messages: client request -> IR, and IR -> upstream request.
#include "translate/codecs.h"

namespace agd::translate {

Result<ir::Request> decode_anthropic_request(std::string_view, Session&) {
    return Result<ir::Request>::fail(501, "translation from anthropic is being written");
}

Result<std::string> encode_anthropic_request(const ir::Request&, Session&) {
    return Result<std::string>::fail(501, "translation to anthropic is being written");
}

}  // namespace agd::translate
