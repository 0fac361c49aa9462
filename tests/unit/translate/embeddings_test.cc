// Embeddings between OpenAI's and Gemini's shapes: requests, answers, the
// base64 form, and what is refused.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support.h"
#include "translate/embeddings.h"

using namespace agd;
using namespace agd::translate;
using test::parse;

namespace {

EmbedRequest decode(Operation op, const char* body) {
    auto d = parse(body);
    auto r = decode_embed_request(op, d);
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.ok());
    return r.value();
}

std::string refused(Operation op, const char* body) {
    auto d = parse(body);
    auto r = decode_embed_request(op, d);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == 400);
    return r.error().message;
}

}  // namespace

TEST_CASE("embeddings: each client shape reads into texts and settings") {
    EmbedRequest o = decode(Operation::Embeddings,
                            R"({"model":"m","input":["a","b"],"dimensions":64,"encoding_format":"base64","user":"u"})");
    CHECK(o.texts == std::vector<std::string>{"a", "b"});
    CHECK(o.dimensions == 64);
    CHECK(o.base64);
    CHECK(o.user == "u");
    CHECK(decode(Operation::Embeddings, R"({"model":"m","input":"one"})").texts == std::vector<std::string>{"one"});

    EmbedRequest g = decode(Operation::GeminiEmbedContent,
                            R"({"content":{"parts":[{"text":"x"},{"inlineData":{}},{"text":"y"}]},
                                "taskType":"RETRIEVAL_QUERY","title":"T","outputDimensionality":3})");
    CHECK(g.texts == std::vector<std::string>{"x\ny"});
    CHECK(g.dimensions == 3);
    CHECK(g.task_type == "RETRIEVAL_QUERY");
    CHECK(g.title == "T");
    EmbedRequest b = decode(Operation::GeminiBatchEmbed,
                            R"({"requests":[{"model":"models/m","content":{"parts":[{"text":"p"}]}},
                                            {"content":{"parts":[{"text":"q"}]}}]})");
    CHECK(b.texts == std::vector<std::string>{"p", "q"});
}

TEST_CASE("embeddings: what cannot be embedded is the client's error, named") {
    CHECK(refused(Operation::Embeddings, R"({"model":"m"})").find("input is required") != std::string::npos);
    CHECK(refused(Operation::Embeddings, R"({"model":"m","input":[1,2]})").find("token ids") != std::string::npos);
    CHECK(refused(Operation::Embeddings, R"({"model":"m","input":[[1]]})").find("token ids") != std::string::npos);
    CHECK(refused(Operation::Embeddings, R"({"model":"m","input":[""]})").find("must not be empty") != std::string::npos);
    CHECK(refused(Operation::Embeddings, R"({"model":"m","input":"x","dimensions":0})").find("dimensions") !=
          std::string::npos);
    CHECK(refused(Operation::GeminiEmbedContent, R"({"content":{"parts":[{"inlineData":{}}]}})").find("text") !=
          std::string::npos);
    CHECK(refused(Operation::GeminiBatchEmbed, R"({"requests":[]})").find("non-empty") != std::string::npos);
    CHECK(refused(Operation::GeminiBatchEmbed, R"({"requests":[{"content":{}}]})").find("requests[0]") !=
          std::string::npos);
}

TEST_CASE("embeddings: encoded for each upstream; Gemini's batch names the upstream model") {
    EmbedRequest r = decode(Operation::Embeddings, R"({"model":"m","input":["a","b"],"dimensions":4,"user":"u"})");
    auto g = parse(encode_embed_request(Protocol::Gemini, r, "gemini-embedding-001").value());
    REQUIRE(g["requests"].Size() == 2);
    CHECK(g["requests"][1]["model"] == "models/gemini-embedding-001");
    CHECK(g["requests"][1]["content"]["parts"][0]["text"] == "b");
    CHECK(g["requests"][0]["outputDimensionality"].GetInt() == 4);
    CHECK_FALSE(g["requests"][0].HasMember("user"));
    auto o = parse(encode_embed_request(Protocol::OpenAIResponses, r, "text-embedding-3-large").value());
    CHECK(o["model"] == "text-embedding-3-large");
    CHECK(o["input"].Size() == 2u);
    CHECK(o["dimensions"].GetInt() == 4);
    CHECK(o["encoding_format"] == "float");  // the daemon reads floats; base64 is made for the client
    CHECK_FALSE(encode_embed_request(Protocol::Anthropic, r, "x").ok());
    std::string many = R"({"model":"m","input":[)";
    for (int i = 0; i < 101; ++i) many += std::string(i ? "," : "") + "\"t\"";
    many += "]}";
    auto too_many = encode_embed_request(Protocol::Gemini, decode(Operation::Embeddings, many.c_str()), "g");
    REQUIRE_FALSE(too_many.ok());
    CHECK(too_many.error().message.find("at most 100") != std::string::npos);
}

TEST_CASE("embeddings: answers decode in order and encode in the client's shape") {
    auto a = decode_embed_response(Protocol::OpenAIChat,
                                   R"({"data":[{"index":1,"embedding":[0.5]},{"index":0,"embedding":[0.25]}],
                                       "usage":{"prompt_tokens":7,"total_tokens":7}})",
                                   2);
    REQUIRE(a.ok());
    CHECK(a.value().vectors == std::vector<std::vector<double>>{{0.25}, {0.5}});
    CHECK(a.value().prompt_tokens == 7);
    // OpenAI's base64 form, read back to floats.
    auto b64 = decode_embed_response(Protocol::OpenAIChat,
                                     (R"({"data":[{"index":0,"embedding":")" + base64_floats({0.5, -2.0, 0.125}) + "\"}]}")
                                         .c_str(),
                                     1);
    REQUIRE(b64.ok());
    CHECK(b64.value().vectors[0] == std::vector<double>{0.5, -2.0, 0.125});
    CHECK_FALSE(decode_embed_response(Protocol::OpenAIChat, R"({"data":[{"index":0,"embedding":[1]}]})", 2).ok());
    CHECK_FALSE(decode_embed_response(Protocol::OpenAIChat, R"({"data":[{"index":0,"embedding":["x"]}]})", 1).ok());
    CHECK_FALSE(
        decode_embed_response(Protocol::OpenAIChat, R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]})", 2)
            .ok());
    auto g = decode_embed_response(Protocol::Gemini, R"({"embeddings":[{"values":[0.5,0.75]}]})", 1);
    REQUIRE(g.ok());
    CHECK(g.value().prompt_tokens == -1);

    EmbedRequest r = decode(Operation::Embeddings, R"({"model":"m","input":"abcdefgh","encoding_format":"base64"})");
    auto out = parse(encode_embed_response(Operation::Embeddings, g.value(), r, "client-model"));
    CHECK(out["object"] == "list");
    CHECK(out["model"] == "client-model");
    CHECK(out["data"][0]["embedding"] == base64_floats({0.5, 0.75}).c_str());
    CHECK(out["usage"]["prompt_tokens"].GetInt() == 2);  // Gemini said none: the estimate
    auto one = parse(encode_embed_response(Operation::GeminiEmbedContent, g.value(), r, "x"));
    CHECK(one["embedding"]["values"][1].GetDouble() == 0.75);
    auto batch = parse(encode_embed_response(Operation::GeminiBatchEmbed, a.value(), r, "x"));
    CHECK(batch["embeddings"][1]["values"][0].GetDouble() == 0.5);
}
