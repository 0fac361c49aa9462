// OpenAI Chat Completions: client request -> IR, and IR -> upstream request.
#include "translate/codecs.h"

namespace agd::translate {

Result<ir::Request> decode_chat_request(std::string_view, Session&) {
    return Result<ir::Request>::fail(501, "translation from chat is being written");
}

Result<std::string> encode_chat_request(const ir::Request&, Session&) {
    return Result<std::string>::fail(501, "translation to chat is being written");
}

}  // namespace agd::translate
