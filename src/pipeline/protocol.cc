#include "pipeline/protocol.h"

namespace agd {

const char* protocol_name(Protocol p) {
    switch (p) {
        case Protocol::OpenAIChat: return "openai-chat";
        case Protocol::OpenAIResponses: return "openai-responses";
        case Protocol::Anthropic: return "anthropic";
        case Protocol::Gemini: return "gemini";
    }
    return "?";
}

const char* operation_name(Operation op) {
    switch (op) {
        case Operation::ChatCompletions: return "chat.completions";
        case Operation::Completions: return "completions";
        case Operation::Responses: return "responses";
        case Operation::ResponsesCompact: return "responses.compact";
        case Operation::ResponsesSocket: return "responses.socket";
        case Operation::Messages: return "messages";
        case Operation::AnthropicCountTokens: return "messages.count_tokens";
        case Operation::GenerateContent: return "generateContent";
        case Operation::StreamGenerateContent: return "streamGenerateContent";
        case Operation::GeminiCountTokens: return "countTokens";
        case Operation::Embeddings: return "embeddings";
        case Operation::GeminiEmbedContent: return "embedContent";
        case Operation::GeminiBatchEmbed: return "batchEmbedContents";
        case Operation::ImagesGenerations: return "images.generations";
        case Operation::ImagesEdits: return "images.edits";
        case Operation::AudioTranscriptions: return "audio.transcriptions";
        case Operation::AudioTranslations: return "audio.translations";
        case Operation::AudioSpeech: return "audio.speech";
        case Operation::ListModels: return "models.list";
        case Operation::GetModel: return "models.get";
        case Operation::GeminiListModels: return "models.list";
        case Operation::GeminiGetModel: return "models.get";
        case Operation::Health: return "health";
        case Operation::NotFound: return "not_found";
        case Operation::MethodNotAllowed: return "method_not_allowed";
    }
    return "?";
}

Surface surface_of(Protocol p) {
    switch (p) {
        case Protocol::OpenAIChat:
        case Protocol::OpenAIResponses: return Surface::OpenAI;
        case Protocol::Anthropic: return Surface::Anthropic;
        case Protocol::Gemini: return Surface::Gemini;
    }
    return Surface::OpenAI;
}

bool is_upstream_operation(Operation op) {
    switch (op) {
        case Operation::ChatCompletions:
        case Operation::Completions:
        case Operation::Responses:
        case Operation::ResponsesCompact:
        case Operation::Messages:
        case Operation::AnthropicCountTokens:
        case Operation::GenerateContent:
        case Operation::StreamGenerateContent:
        case Operation::GeminiCountTokens:
        case Operation::Embeddings:
        case Operation::GeminiEmbedContent:
        case Operation::GeminiBatchEmbed:
        case Operation::ImagesGenerations:
        case Operation::ImagesEdits:
        case Operation::AudioTranscriptions:
        case Operation::AudioTranslations:
        case Operation::AudioSpeech: return true;
        default: return false;
    }
}

bool operation_streams_by_body(Operation op) {
    return op == Operation::ChatCompletions || op == Operation::Completions || op == Operation::Responses || op == Operation::Messages;
}

}  // namespace agd
