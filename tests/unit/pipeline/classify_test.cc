#include <doctest/doctest.h>

#include "pipeline/classify.h"

using namespace agd;

TEST_CASE("classify: OpenAI, Anthropic and Gemini operations") {
    CHECK(classify(HttpMethod::Post, "/v1/chat/completions", "", false).op == Operation::ChatCompletions);
    CHECK(classify(HttpMethod::Post, "/chat/completions", "", false).op == Operation::ChatCompletions);
    CHECK(classify(HttpMethod::Post, "/v1/chat/completions/", "", false).op == Operation::ChatCompletions);
    Route r = classify(HttpMethod::Post, "/v1/responses", "", false);
    CHECK(r.op == Operation::Responses);
    CHECK(r.protocol == Protocol::OpenAIResponses);
    r = classify(HttpMethod::Post, "/v1/messages", "", false);
    CHECK(r.op == Operation::Messages);
    CHECK(r.surface == Surface::Anthropic);
    CHECK(classify(HttpMethod::Post, "/v1/messages/count_tokens", "", false).op == Operation::AnthropicCountTokens);

    r = classify(HttpMethod::Post, "/v1beta/models/gemini-2.5-flash:generateContent", "", false);
    CHECK(r.op == Operation::GenerateContent);
    CHECK(r.model == "gemini-2.5-flash");
    CHECK(r.surface == Surface::Gemini);
    r = classify(HttpMethod::Post, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse", false);
    CHECK(r.op == Operation::StreamGenerateContent);
    CHECK(r.gemini_sse);
    r = classify(HttpMethod::Post, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "key=x", false);
    CHECK_FALSE(r.gemini_sse);
    r = classify(HttpMethod::Post, "/v1beta/models/a%2Bb:countTokens", "", false);
    CHECK(r.op == Operation::GeminiCountTokens);
    CHECK(r.model == "a+b");
    CHECK(classify(HttpMethod::Post, "/v1/models/gemini-pro:generateContent", "", false).op == Operation::GenerateContent);
}

TEST_CASE("classify: model lists, health, unknown paths and methods") {
    CHECK(classify(HttpMethod::Get, "/health", "", false).op == Operation::Health);
    CHECK(classify(HttpMethod::Get, "/healthz", "", false).op == Operation::Health);
    CHECK(classify(HttpMethod::Head, "/api/hello", "", false).op == Operation::Health);
    CHECK(classify(HttpMethod::Post, "/api/hello", "", false).op == Operation::MethodNotAllowed);
    Route r = classify(HttpMethod::Get, "/v1/models", "", false);
    CHECK(r.op == Operation::ListModels);
    CHECK(r.surface == Surface::OpenAI);
    r = classify(HttpMethod::Get, "/v1/models", "", true);
    CHECK(r.surface == Surface::Anthropic);
    r = classify(HttpMethod::Get, "/v1/models/gpt-4o", "", false);
    CHECK(r.op == Operation::GetModel);
    CHECK(r.model == "gpt-4o");
    CHECK(classify(HttpMethod::Get, "/v1beta/models", "", false).op == Operation::GeminiListModels);
    r = classify(HttpMethod::Get, "/v1beta/models/gemini-pro", "", false);
    CHECK(r.op == Operation::GeminiGetModel);
    CHECK(r.model == "gemini-pro");

    CHECK(classify(HttpMethod::Get, "/v1/chat/completions", "", false).op == Operation::MethodNotAllowed);
    CHECK(classify(HttpMethod::Post, "/health", "", false).op == Operation::MethodNotAllowed);
    CHECK(classify(HttpMethod::Post, "/v1beta/models/x:explode", "", false).op == Operation::NotFound);
    r = classify(HttpMethod::Get, "/v1beta/nothing", "", false);
    CHECK(r.op == Operation::NotFound);
    CHECK(r.surface == Surface::Gemini);
    CHECK(classify(HttpMethod::Get, "/", "", false).op == Operation::NotFound);
    CHECK(classify(HttpMethod::Post, "/v1beta/models/%zz:generateContent", "", false).op == Operation::NotFound);
}

TEST_CASE("query parameters and percent decoding") {
    std::string v;
    CHECK(query_param("alt=sse&key=abc%2Fd", "key", &v));
    CHECK(v == "abc/d");
    CHECK(query_param("a=1&key=x+y", "key", &v));
    CHECK(v == "x y");
    CHECK_FALSE(query_param("keys=1&k=2", "key", &v));
    CHECK(query_param("flag", "flag", &v));
    CHECK(v.empty());
    std::string out;
    CHECK(percent_decode("a%20b", &out));
    CHECK(out == "a b");
    CHECK_FALSE(percent_decode("a%2", &out));
    CHECK_FALSE(percent_decode("a%g0", &out));
}

TEST_CASE("classify: legacy completions and the model list's ?format") {
    Route r = classify(HttpMethod::Post, "/v1/completions", "", false);
    CHECK(r.op == Operation::Completions);
    CHECK(r.protocol == Protocol::OpenAIChat);
    CHECK(classify(HttpMethod::Get, "/v1/completions", "", false).op == Operation::MethodNotAllowed);
    CHECK(is_upstream_operation(Operation::Completions));
    CHECK(operation_streams_by_body(Operation::Completions));

    CHECK(classify(HttpMethod::Get, "/v1/models", "format=anthropic", false).protocol == Protocol::Anthropic);
    CHECK(classify(HttpMethod::Get, "/v1/models", "format=openai", true).protocol == Protocol::OpenAIChat);
    r = classify(HttpMethod::Get, "/v1/models", "format=gemini", false);
    CHECK(r.op == Operation::GeminiListModels);
    CHECK(r.surface == Surface::Gemini);
    CHECK(classify(HttpMethod::Get, "/v1/models/claude-x", "format=anthropic", false).protocol == Protocol::Anthropic);
    CHECK(classify(HttpMethod::Get, "/v1/models", "format=bogus", true).protocol == Protocol::Anthropic);
}

TEST_CASE("classify: images and audio endpoints") {
    struct Case {
        const char* path;
        Operation op;
    };
    for (Case c : {Case{"/v1/images/generations", Operation::ImagesGenerations},
                   Case{"/v1/images/edits", Operation::ImagesEdits},
                   Case{"/v1/audio/transcriptions", Operation::AudioTranscriptions},
                   Case{"/v1/audio/translations/", Operation::AudioTranslations},
                   Case{"/audio/speech", Operation::AudioSpeech}}) {
        Route r = classify(HttpMethod::Post, c.path, "", false);
        CHECK(r.op == c.op);
        CHECK(r.protocol == Protocol::OpenAIChat);
        CHECK(is_upstream_operation(r.op));
        CHECK(is_media_operation(r.op));
        CHECK_FALSE(operation_streams_by_body(r.op));
        CHECK(classify(HttpMethod::Get, c.path, "", false).op == Operation::MethodNotAllowed);
    }
    CHECK(is_upload_operation(Operation::ImagesEdits));
    CHECK(is_upload_operation(Operation::AudioTranscriptions));
    CHECK_FALSE(is_upload_operation(Operation::ImagesGenerations));
    CHECK_FALSE(is_upload_operation(Operation::AudioSpeech));
    CHECK(classify(HttpMethod::Post, "/v1/images/variations", "", false).op == Operation::NotFound);
}
