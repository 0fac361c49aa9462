#include "translate/codec.h"

#include "translate/codecs.h"
#include "translate/json_util.h"

namespace agd::translate {

Result<ir::Request> decode_request(Protocol client, std::string_view body, Session& s) {
    JsonDoc doc;
    std::string err;
    if (!parse_json(body, doc, &err, {.in_place = true, .utf8_checked = s.body_utf8_checked}))
        return Result<ir::Request>::fail(400, err);
    return decode_request(client, doc, s);
}

Result<ir::Request> decode_request(Protocol client, const JsonValue& body, Session& s) {
    if (!body.IsObject()) return Result<ir::Request>::fail(400, "the request body must be a JSON object");
    switch (client) {
        case Protocol::OpenAIChat: return decode_chat_request(body, s);
        case Protocol::OpenAIResponses: return decode_responses_request(body, s);
        case Protocol::Anthropic: return decode_anthropic_request(body, s);
        case Protocol::Gemini: break;
    }
    return decode_gemini_request(body, s);
}

Result<std::string> encode_request(Protocol upstream, const ir::Request& req, Session& s) {
    switch (upstream) {
        case Protocol::OpenAIChat: return encode_chat_request(req, s);
        case Protocol::OpenAIResponses: return encode_responses_request(req, s);
        case Protocol::Anthropic: return encode_anthropic_request(req, s);
        case Protocol::Gemini: break;
    }
    return encode_gemini_request(req, s);
}

Result<ir::Response> decode_response(Protocol upstream, std::string_view body, Session& s) {
    switch (upstream) {
        case Protocol::OpenAIChat: return decode_chat_response(body, s);
        case Protocol::OpenAIResponses: return decode_responses_response(body, s);
        case Protocol::Anthropic: return decode_anthropic_response(body, s);
        case Protocol::Gemini: break;
    }
    return decode_gemini_response(body, s);
}

std::string encode_response(Protocol client, const ir::Response& r, Session& s) {
    switch (client) {
        case Protocol::OpenAIChat: return encode_chat_response(r, s);
        case Protocol::OpenAIResponses: return encode_responses_response(r, s);
        case Protocol::Anthropic: return encode_anthropic_response(r, s);
        case Protocol::Gemini: break;
    }
    return encode_gemini_response(r, s);
}

std::unique_ptr<StreamDecoder> make_stream_decoder(Protocol upstream, Session& s) {
    switch (upstream) {
        case Protocol::OpenAIChat: return make_chat_stream_decoder(s);
        case Protocol::OpenAIResponses: return make_responses_stream_decoder(s);
        case Protocol::Anthropic: return make_anthropic_stream_decoder(s);
        case Protocol::Gemini: break;
    }
    return make_gemini_stream_decoder(s);
}

std::unique_ptr<StreamEncoder> make_stream_encoder(Protocol client, Session& s) {
    switch (client) {
        case Protocol::OpenAIChat: return make_chat_stream_encoder(s);
        case Protocol::OpenAIResponses: return make_responses_stream_encoder(s);
        case Protocol::Anthropic: return make_anthropic_stream_encoder(s);
        case Protocol::Gemini: break;
    }
    return make_gemini_stream_encoder(s);
}

}  // namespace agd::translate
