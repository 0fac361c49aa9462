// The per-protocol codecs behind codec.h. Each protocol has a decoder of
// client requests, an encoder of upstream requests, a decoder of upstream
// answers and an encoder of client answers, whole and streamed.
//
//   request  decode: client body (a JSON object's DOM) -> ir::Request (names and ids as the client sent them)
//   request  encode: ir::Request -> upstream body (maps names/ids into the Session)
//   response decode: upstream body -> ir::Response (names/ids mapped back to the client's)
//   response encode: ir::Response -> client body (model shown = Session::client_model)
#pragma once

#include "translate/codec.h"

namespace agd::translate {

// OpenAI Chat Completions (and, on the client side, legacy Completions when
// Session::legacy_completion is set).
Result<ir::Request> decode_chat_request(const JsonValue& body, Session& s);
Result<std::string> encode_chat_request(const ir::Request& r, Session& s);
Result<ir::Response> decode_chat_response(std::string_view body, Session& s);
std::string encode_chat_response(const ir::Response& r, Session& s);
std::unique_ptr<StreamDecoder> make_chat_stream_decoder(Session& s);
std::unique_ptr<StreamEncoder> make_chat_stream_encoder(Session& s);

// OpenAI Responses.
Result<ir::Request> decode_responses_request(const JsonValue& body, Session& s);
Result<std::string> encode_responses_request(const ir::Request& r, Session& s);
Result<ir::Response> decode_responses_response(std::string_view body, Session& s);
std::string encode_responses_response(const ir::Response& r, Session& s);
std::unique_ptr<StreamDecoder> make_responses_stream_decoder(Session& s);
std::unique_ptr<StreamEncoder> make_responses_stream_encoder(Session& s);

// Anthropic Messages.
Result<ir::Request> decode_anthropic_request(const JsonValue& body, Session& s);
Result<std::string> encode_anthropic_request(const ir::Request& r, Session& s);
Result<ir::Response> decode_anthropic_response(std::string_view body, Session& s);
std::string encode_anthropic_response(const ir::Response& r, Session& s);
std::unique_ptr<StreamDecoder> make_anthropic_stream_decoder(Session& s);
std::unique_ptr<StreamEncoder> make_anthropic_stream_encoder(Session& s);

// Gemini generateContent / streamGenerateContent. The model and the stream
// flag come from the URL (Session::client_model, Session::stream).
Result<ir::Request> decode_gemini_request(const JsonValue& body, Session& s);
Result<std::string> encode_gemini_request(const ir::Request& r, Session& s);
Result<ir::Response> decode_gemini_response(std::string_view body, Session& s);
std::string encode_gemini_response(const ir::Response& r, Session& s);
std::unique_ptr<StreamDecoder> make_gemini_stream_decoder(Session& s);
std::unique_ptr<StreamEncoder> make_gemini_stream_encoder(Session& s);

}  // namespace agd::translate
