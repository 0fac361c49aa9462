// OpenAI Responses: upstream stream -> IR events, and IR events -> client stream.
#include "translate/codecs.h"

namespace agd::translate {

std::unique_ptr<StreamDecoder> make_responses_stream_decoder(Session&) { return nullptr; }
std::unique_ptr<StreamEncoder> make_responses_stream_encoder(Session&) { return nullptr; }

}  // namespace agd::translate
