// Translation: the per-request side of protocol translation for the
// Exchange. Decodes the client's request into the IR once, encodes it for
// each attempt's upstream wire, and turns the upstream's answer (whole,
// streamed, or an error) into the client's protocol.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "dispatch/upstream_request.h"
#include "translate/codec.h"

namespace agd {
class RequestContext;
}

namespace agd::translate {
struct EmbedRequest;
struct ImageRequest;
}

namespace agd::dispatch {

struct Provider;
struct Credential;

class Translation {
public:
    Translation();
    ~Translation();
    Translation(const Translation&) = delete;
    Translation& operator=(const Translation&) = delete;

    // Decodes the client's request (a 400 in the client's protocol on failure).
    static Result<std::unique_ptr<Translation>> create(const RequestContext& ctx);

    // True when this provider wire needs the codecs (another protocol, or a legacy completion).
    static bool needed(const RequestContext& ctx, Protocol wire);

    // Encodes the request for this attempt and fills `req`. An error is the
    // client's fault (something the target cannot express): answer 400.
    Status begin_attempt(const RequestContext& ctx, const Provider& provider, const Credential& cred,
                         const std::string& upstream_model, upstream::Request& req);

    // count_tokens toward a wire without a count endpoint: the local estimate, as the client's answer body.
    bool local_count(Protocol wire) const;
    std::string local_count_body() const;

    // Images given by http(s) URL that `wire` only takes inline (Gemini).
    std::vector<ir::Media*> media_to_inline(Protocol wire);

    bool client_stream() const { return session_.stream; }
    // A fallback model serves: answers name it instead of the model asked.
    void serve_as(const std::string& model) { session_.client_model = model; }
    bool counting() const { return call_ == UpstreamCall::CountTokens; }
    const char* content_type() const;  // of the client's answer

    // Streams: upstream SSE events in, client bytes out (take them from output()).
    void on_event(const sse::Event& ev);
    void on_close();                                  // the upstream's body ended cleanly
    void fail(std::string_view message, int status);  // the upstream failed after the client's answer began
    std::string& output() { return encoder_->out; }
    bool finished() const { return encoder_->finished(); }
    // The stream ended with an error event (the upstream's, a limit of
    // stream_limits.h the codecs hit, or JSON nested past max_json_depth):
    // its status and message.
    bool failed() const { return failed_ || (encoder_ && encoder_->failed()); }
    int error_status() const { return encoder_ && encoder_->failed() ? 502 : error_status_; }
    const std::string& error_text() const {
        return encoder_ && encoder_->failed() ? encoder_->failure() : error_text_;
    }
    const std::string& error() const { return error_text(); }
    // The client's stream cannot carry an error (a Gemini JSON array): a failure cuts the connection.
    bool cuts_on_error() const {
        return session_.stream && session_.client == Protocol::Gemini && !session_.gemini_sse;
    }

    // A whole upstream answer -> the client's body; a 502 when it cannot be read.
    // When the client asked for a stream, the answer is replayed as one (output()).
    Result<std::string> translate_body(std::string_view upstream_body);

    // An embeddings answer that said nothing of its tokens (Gemini's): the
    // estimate of its input that the client was told; -1 otherwise.
    int64_t estimated_input() const { return estimated_input_; }

    // Message of an upstream error body in any of the four formats ("" when none).
    static std::string error_message(std::string_view body);

private:
    class Sink;
    static void ask_for_summary(ir::Request& r, std::string& kept);
    translate::Session session_;
    ir::Request request_;
    size_t request_bytes_ = 0;  // the client's body: what each attempt's encoding reserves from
    size_t decoded_drops_ = 0;  // Session::dropped_tools entries the decoder made (each attempt keeps them)
    UpstreamCall call_ = UpstreamCall::Generate;
    std::unique_ptr<translate::EmbedRequest> embed_;  // an embeddings call: its texts (request_ unused)
    std::unique_ptr<translate::ImageRequest> image_;  // an image generation toward Gemini (request_ unused)
    // POST /v1/responses/compact toward another wire: the client's own
    // messages kept for the compacted history (JSON items), the summary
    // asked of the model added after them.
    bool compact_ = false;
    std::string kept_items_;
    Operation embed_op_ = Operation::Embeddings;
    int64_t estimated_input_ = -1;
    std::string body_;  // the encoded upstream request of the current attempt
    std::unique_ptr<translate::StreamDecoder> decoder_;
    std::unique_ptr<translate::StreamEncoder> encoder_;
    std::unique_ptr<Sink> sink_;
    bool failed_ = false;
    int error_status_ = 502;
    std::string error_text_;  // of the error event
};

}  // namespace agd::dispatch
