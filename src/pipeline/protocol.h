// The API surfaces a client can speak and the operations of each.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace agd {

// Which family's error JSON a client understands.
enum class Surface : uint8_t { OpenAI, Anthropic, Gemini };

// A wire protocol, on the client side or the upstream side.
enum class Protocol : uint8_t { OpenAIChat, OpenAIResponses, Anthropic, Gemini };

enum class Operation : uint8_t {
    ChatCompletions,        // POST /v1/chat/completions
    Completions,            // POST /v1/completions (legacy; always translated to a chat upstream)
    Responses,              // POST /v1/responses
    ResponsesCompact,       // POST /v1/responses/compact (Codex's remote compaction)
    ResponsesSocket,        // GET /v1/responses upgraded to a WebSocket (and its warm-ups)
    Messages,               // POST /v1/messages
    AnthropicCountTokens,   // POST /v1/messages/count_tokens
    GenerateContent,        // POST /v1beta/models/{m}:generateContent
    StreamGenerateContent,  // POST /v1beta/models/{m}:streamGenerateContent
    GeminiCountTokens,      // POST /v1beta/models/{m}:countTokens
    Embeddings,             // POST /v1/embeddings
    GeminiEmbedContent,     // POST /v1beta/models/{m}:embedContent
    GeminiBatchEmbed,       // POST /v1beta/models/{m}:batchEmbedContents
    ImagesGenerations,      // POST /v1/images/generations (JSON)
    ImagesEdits,            // POST /v1/images/edits (multipart/form-data)
    AudioTranscriptions,    // POST /v1/audio/transcriptions (multipart/form-data)
    AudioTranslations,      // POST /v1/audio/translations (multipart/form-data)
    AudioSpeech,            // POST /v1/audio/speech (JSON in, audio bytes out)
    ListModels,             // GET /v1/models (OpenAI or Anthropic form)
    GetModel,               // GET /v1/models/{id}
    GeminiListModels,       // GET /v1beta/models
    GeminiGetModel,         // GET /v1beta/models/{m}
    Health,                 // GET /health, /healthz, /api/hello
    NotFound,
    MethodNotAllowed,
};

const char* protocol_name(Protocol p);    // "openai-chat", "openai-responses", "anthropic", "gemini"
const char* operation_name(Operation op);
Surface surface_of(Protocol p);

// True when the operation is relayed upstream (has a JSON body and a model).
bool is_upstream_operation(Operation op);
// Asked several times of every request (routing, translation): inline
// range checks over the enum's order.
// True for the embedding operations (OpenAI and Gemini shapes).
inline bool is_embedding_operation(Operation op) {
    return op >= Operation::Embeddings && op <= Operation::GeminiBatchEmbed;
}
// True for OpenAI's images and audio operations.
inline bool is_media_operation(Operation op) {
    return op >= Operation::ImagesGenerations && op <= Operation::AudioSpeech;
}
// True for the operations whose body is an upload (multipart/form-data).
inline bool is_upload_operation(Operation op) {
    return op >= Operation::ImagesEdits && op <= Operation::AudioTranslations;
}
static_assert(static_cast<int>(Operation::GeminiBatchEmbed) - static_cast<int>(Operation::Embeddings) == 2 &&
                  static_cast<int>(Operation::AudioSpeech) - static_cast<int>(Operation::ImagesGenerations) == 4 &&
                  static_cast<int>(Operation::AudioTranslations) - static_cast<int>(Operation::ImagesEdits) == 2,
              "the range checks above follow the enum's order");
// True when the operation's response may be a stream decided by the body's "stream" flag.
bool operation_streams_by_body(Operation op);

}  // namespace agd
